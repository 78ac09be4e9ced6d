#include "support/run_program.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "catch.h"
#include "fd_wait.h"
#include "support/test_util.h"

namespace pccheck::testing {

using fd_wait::After;
using fd_wait::MsLeft;
using fd_wait::Readable;
using fd_wait::ReadSome;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

CliRun RunPccheck(const std::vector<std::string>& args, int timeout_ms) {
  return RunProgram("daemon/pccheck", args, timeout_ms);
}

CliRun RunProgram(const std::string& program, const std::vector<std::string>& args,
                  int timeout_ms) {
  const std::string exe = BuildDir() + "/" + program;
  std::vector<std::string> all = {exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  CliRun run;
  const auto deadline = After(timeout_ms);
  bool out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    int n = ::poll(p, 2, MsLeft(deadline));
    if (n == 0) {
      timed_out = true;
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents && !ReadSome(out[0], &run.out)) out_open = false;
    if (p[1].revents && !ReadSome(err[0], &run.err)) err_open = false;
  }
  if (timed_out) ::kill(pid, SIGKILL);
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = timed_out           ? 124
                  : WIFEXITED(status) ? WEXITSTATUS(status)
                                      : 128 + WTERMSIG(status);
  return run;
}

}  // namespace pccheck::testing
