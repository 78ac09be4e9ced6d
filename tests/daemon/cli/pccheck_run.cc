#include "pccheck_run.h"

#include <sys/wait.h>

#include <cstdio>

#include "catch.h"

namespace pccheck::testing {

std::string Quote(const std::string& text) { return "'" + text + "'"; }

Run RunBuilt(const std::string& binary, const std::string& args, const TempDir& scratch) {
  const std::string err_path = scratch.path() + "/stderr.txt";
  const std::string cmd =
      Quote(BuildDir() + "/daemon/" + binary) + " " + args + " 2>" + Quote(err_path);
  Run run;
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) run.out.append(buf, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.err = ReadTextFile(err_path);
  return run;
}

Run Pccheck(const std::string& args, const TempDir& scratch) {
  return RunBuilt("pccheck", args, scratch);
}

}  // namespace pccheck::testing
