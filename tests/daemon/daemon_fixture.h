// What the daemon's integration tests stand on: a real pccheckd in a child
// process, client processes forked from the test, and a watchdog.
//
// Every wait here is on an event with a deadline: the daemon's "ready" log
// line, a line on a pipe, EOF of a process's output, a process's exit. Nothing
// sleeps a fixed time to let something happen.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/json_parse.h"
#include "test_util.h"

namespace pccheck::testing {

// pccheckd with its own store and socket. Its stderr (the log, at debug level)
// comes through a pipe to a thread of ours, so tests can wait for a line.
class Daemon {
 public:
  // `extra` flags go after the defaults (a 16 MiB pool of 1 MiB chunks, no
  // O_DIRECT so that it also runs on tmpfs, debug logs). `socket` empty: one
  // in the temporary directory.
  explicit Daemon(std::vector<std::string> extra = {}, std::string socket = "");
  ~Daemon();  // SIGKILLs it if still running
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts it (again: same store and socket) and returns once it logged
  // "ready" and answers a status request. Fails the test after 30 s or when
  // it exits first.
  void Start();
  void Kill();  // SIGKILL, then reaps it
  // SIGTERM; returns its wait status once it exited, or nullopt (after
  // SIGKILLing it) when it did not exit within timeout_ms.
  std::optional<int> Terminate(int timeout_ms);

  // Waits until the log (of every run so far) contains `needle`.
  bool WaitForLog(const std::string& needle, int timeout_ms);
  std::string Log() const;

  // The status document, parsed; fails the test when the daemon does not answer.
  JsonValue Status() const;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  const std::string& socket() const { return socket_; }
  const std::string& root() const { return root_; }

 private:
  void Drain(int fd);
  void Reap();

  TempDir dir_;
  std::string socket_, root_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  std::thread drain_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string log_;
  bool eof_ = true;  // the current run's stderr has closed
};

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

// Fails the test, instead of letting it hang, when it runs longer than
// `seconds`: SIGKILLs the processes registered with it (which makes any
// client call waiting on them return), so the test reaches its checks; the
// destructor then fails the test. As a last resort, when even that does not
// end the test, exits the whole binary with status 124.
class Watchdog {
 public:
  explicit Watchdog(int seconds);
  ~Watchdog();
  void Guard(pid_t pid);
  bool fired() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool fired_ = false;
  std::vector<pid_t> pids_;
  std::thread thread_;
};

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
