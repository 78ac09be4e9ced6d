// Runs the built `pccheck` (or `pccheckd`) the way a user or a script does,
// for the CLI tests: its exit code, stdout and stderr.
#pragma once

#include <string>

#include "support/test_util.h"

namespace pccheck::testing {

struct Run {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// 'text' quoted for the shell (text must not hold a single quote).
std::string Quote(const std::string& text);

// Runs the built `BINARY ARGS` (a program under daemon/ in the build: pccheck,
// pccheckd) through the shell, stdout through a pipe, stderr into a file in
// `scratch`.
Run RunBuilt(const std::string& binary, const std::string& args, const TempDir& scratch);

// RunBuilt("pccheck", args, scratch).
Run Pccheck(const std::string& args, const TempDir& scratch);

}  // namespace pccheck::testing
