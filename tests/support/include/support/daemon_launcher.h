// DaemonLauncher: a real pccheckd in a child process, the one way every test
// (C++ and, through tests/python/harness.py, Python) starts one.
//
// It runs the build's daemon/pccheckd with its store and socket under a
// directory of its own, and keeps what the daemon logs (stdout and stderr,
// through a pipe) in memory and in <dir>/pccheckd.log.
//
// Ready means: the daemon answers a status request (kStatus) on its socket.
// That is the readiness every test needs (a client can talk to it), it comes
// only after the store is recovered and the socket listens, it needs nothing
// from the daemon's environment (the notify-protocol tests own NOTIFY_SOCKET
// themselves; without it the daemon runs exactly as started by hand), no log
// line's wording is matched, and a stale socket file left by a killed run
// refuses connections, so it cannot pass for a new daemon. Start() checks it
// with WaitUntil and fails at once, with the log, when the daemon exits first.
//
// No Catch2 here: support/daemon.h is the test-failing face of it, and
// programs such as gpu_bench use this one directly.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pccheck/status.h"
#include "support/test_util.h"

namespace pccheck::testing {

struct LaunchOptions {
  // Flags given unless `flags` names them too (a flag may be given once):
  // a small pool, no O_DIRECT so that it also runs on tmpfs, debug logs.
  std::vector<std::pair<std::string, std::string>> defaults = {
      {"--pool", "16MiB"}, {"--chunk", "1MiB"}, {"--direct-io", "false"}, {"--log-level", "debug"}};
  std::vector<std::string> flags;  // after the defaults
  std::string dir;                 // empty: a temporary directory of its own (removed with it)
  std::string socket;              // empty: <dir>/pccheckd.sock
  int ready_timeout_ms = 30'000;   // pinning a large pool takes a while: GPU tests give more
};

class DaemonLauncher {
 public:
  explicit DaemonLauncher(LaunchOptions options = {});
  ~DaemonLauncher();  // SIGKILLs it if still running
  DaemonLauncher(const DaemonLauncher&) = delete;
  DaemonLauncher& operator=(const DaemonLauncher&) = delete;

  // Starts it (again after Kill or Terminate: same store and socket) and
  // returns once it answers a status request, or why it did not (it exited,
  // or the timeout passed: then it is killed), with its log.
  Status Start();
  void Kill();  // SIGKILL (SIGCONT first), then reaps it
  // SIGTERM; its wait status once it exited, or nullopt (after SIGKILLing
  // it) when it did not exit within timeout_ms.
  std::optional<int> Terminate(int timeout_ms);
  void Stop() { Terminate(120'000); }  // SIGTERM and reap; SIGKILL after 2 minutes
  void Pause();                        // SIGSTOP: alive, connected, silent
  void Resume();                       // SIGCONT
  // Whether it still runs (it is reaped if it died).
  bool Alive();

  // Waits until the log (of every run so far) contains `needle`.
  bool WaitForLog(const std::string& needle, int timeout_ms);
  std::string Log() const;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  const std::string& dir() const { return dir_; }
  const std::string& socket() const { return socket_; }
  const std::string& root() const { return root_; }

 private:
  void Drain(int fd);
  void Reap();
  bool Exited() const;  // its output closed (it exited)

  std::unique_ptr<TempDir> own_dir_;
  std::string dir_, socket_, root_, log_path_;
  LaunchOptions options_;
  pid_t pid_ = -1;
  std::thread drain_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string log_;
  bool eof_ = true;  // the current run's output has closed
};

// The status document pccheckd at `socket` sends for a status request
// (kStatus, as `pccheck status` asks), or why there is none within
// timeout_ms. That it answers is the readiness DaemonLauncher waits for.
Result<std::string> QueryStatus(const std::string& socket, int timeout_ms = 10'000);

}  // namespace pccheck::testing
