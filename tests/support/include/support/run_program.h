// Runs a built program (`pccheck`, `pccheckd`) to its end, as a user or a
// script does: its exit code, stdout and stderr.
#pragma once

#include <string>
#include <vector>

namespace pccheck::testing {

// Runs the built `pccheck` with `args`; returns its exit code and stdout.
struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CliRun RunPccheck(const std::vector<std::string>& args, int timeout_ms = 120'000);
// The same for any built program, `exe` relative to the build root
// ("daemon/pccheckd").
CliRun RunProgram(const std::string& exe, const std::vector<std::string>& args,
                  int timeout_ms = 120'000);

bool Contains(const std::string& s, const std::string& part);

}  // namespace pccheck::testing
