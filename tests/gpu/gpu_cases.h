// The GPU test cases' names, known before Catch2 runs: without a usable GPU
// gpu_main.cc prints one "SKIP <name>: ..." line per case (scripts/test counts
// them), and with one it runs each case in a process of its own. Declare
// cases with GPU_TEST_CASE (a TEST_CASE that also records its name); names
// must not hold Catch2's test-spec characters: [ ] , " ~ * \ and no ": ".
#pragma once

#include <string>
#include <vector>

#include "catch.h"

namespace pccheck::testing {

std::vector<std::string>& GpuCaseNames();

struct GpuCaseName {
  explicit GpuCaseName(const char* name) { GpuCaseNames().push_back(name); }
};

// The trainer that the kill test runs in a process of its own (gpu_test.cc):
// gpu_tests --trainer-child <args>.
int TrainerChildMain(int argc, char** argv);

}  // namespace pccheck::testing

#define PCC_GPU_CASE_CAT2(a, b) a##b
#define PCC_GPU_CASE_CAT(a, b) PCC_GPU_CASE_CAT2(a, b)
#define GPU_TEST_CASE(name, tags)                                                               \
  static const ::pccheck::testing::GpuCaseName PCC_GPU_CASE_CAT(pcc_gpu_case_, __LINE__){name}; \
  TEST_CASE(name, tags)
