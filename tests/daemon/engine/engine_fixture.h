// Shared set-up for engine tests: a store in a temporary directory, the fake
// GPU, small chunks so that every path (many chunks, a tensor larger than the
// pool) is exercised with little data.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gpu/gpu.h"
#include "io/file_system.h"
#include "support/test_util.h"

namespace pccheck::testing {

// Host tensors with deterministic contents, kept alive by the set.
struct TensorSet {
  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> data;

  // One tensor per size, contents derived from seed.
  static TensorSet Make(const std::vector<size_t>& sizes, uint64_t seed);
  std::vector<TensorSource> Sources() const;
  // Zeroed buffers of the same sizes, and dests pointing into them.
  TensorSet EmptyLike() const;
  std::map<std::string, TensorDest> Dests();
};

EngineOptions SmallOptions(const std::string& root, int max_inflight = 2);

SaveRequest MakeRequest(const TensorSet& t, uint64_t step, const std::string& job = "job",
                        uint32_t rank = 0);

// Restores step (or latest) of job/rank and checks it equals `expected`.
void CheckRestore(Engine& engine, const TensorSet& expected, std::optional<uint64_t> step,
                  uint64_t expect_step, const std::string& job = "job");

// Flips bits of the byte at `offset` of the file (damage for tests to find).
void FlipByte(const std::string& path, uint64_t offset);

// The file of the ring slot that holds `step` of job "job", rank 0, in the
// store at root, as engine.List() places it: root/job/rank-0/slot-K + suffix
// (".data", ".manifest", or "" for the pair's stem). FAILs the test when no
// ring slot holds the step (kept checkpoints are not in one).
std::string SlotFile(Engine& engine, const std::string& root, uint64_t step,
                     const std::string& suffix);

}  // namespace pccheck::testing
