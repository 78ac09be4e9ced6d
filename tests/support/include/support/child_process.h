// A process forked from the test, reporting to it line by line through a
// pipe. Every wait is on an event with a deadline: a line, EOF, the exit.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pccheck::testing {

// A process forked from the test. `body` runs in it and its return value is
// the exit code; it may write lines to `out` (its report pipe). Catch2 must
// not be used inside `body`: report through `out` and the exit code instead.
class ChildProcess {
 public:
  explicit ChildProcess(const std::function<int(int out)>& body);
  ~ChildProcess();  // SIGKILLs and reaps it if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line it wrote, or nullopt at EOF or when timeout_ms passed.
  std::optional<std::string> ReadLine(int timeout_ms);
  // Every line until EOF (or the timeout); false on timeout.
  bool ReadAll(std::vector<std::string>* lines, int timeout_ms);
  // Waits for its exit (EOF of its pipe, then waitpid): the wait status, or
  // nullopt when it did not exit in time.
  std::optional<int> Wait(int timeout_ms);
  void Kill();  // SIGKILL, then reaps it

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// Writes a line to a child's report pipe (in the child).
void Report(int out, const std::string& line);
// Reports `why` and returns 1: `return Fail(out, "...")` in a child's body.
int Fail(int out, const std::string& why);
// Whether a wait status (from Wait) is a clean exit 0; and in words.
bool ExitedOk(const std::optional<int>& status);
std::string DescribeExit(const std::optional<int>& status);

}  // namespace pccheck::testing
