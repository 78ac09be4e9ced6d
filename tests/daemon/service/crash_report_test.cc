// A fatal signal in pccheckd leaves its name and a backtrace on stderr, and
// the process still dies of that signal (so a core dump or systemd's restart
// sees the real cause).
#include "service/crash_report.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "catch.h"

namespace pccheck {
namespace {

TEST_CASE("a fatal signal writes its name and a backtrace, then kills the process") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    InstallCrashReport("crash-test");
    ::raise(SIGSEGV);
    ::_exit(0);  // not reached: the signal's default action ends the process
  }
  ::close(fds[1]);
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO(err);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
  CHECK(err.find("crash-test: fatal signal SEGV; backtrace") == 0);
  CHECK(err.find('\n') + 1 < err.size());  // at least one frame follows
}

}  // namespace
}  // namespace pccheck
