// A real pccheckd in a child process, for the client's tests: its own store
// and socket in a temporary directory, and the signals a test needs to make
// it die (SIGKILL), hang (SIGSTOP) or come back (Start again on the same store).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace pccheck::testing {

class DaemonProcess {
 public:
  // Does not start it yet. `extra` flags go after the defaults (small pool,
  // no O_DIRECT so that it runs on tmpfs).
  explicit DaemonProcess(std::vector<std::string> extra = {});
  ~DaemonProcess();  // kills it if still running

  // Starts pccheckd and returns once it answers a status request (fails the
  // test after 20 s). Restarting after Kill() reuses the same store.
  void Start();
  void Kill();    // SIGKILL, then reaps it
  void Stop();    // SIGTERM, then reaps it
  void Pause();   // SIGSTOP: alive, connected, silent
  void Resume();  // SIGCONT

  const std::string& socket() const { return socket_; }
  const std::string& root() const { return root_; }
  std::string Log() const;  // what it wrote to stderr, for failing tests

 private:
  void Reap();
  TempDir dir_;
  std::string socket_, root_, log_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

}  // namespace pccheck::testing
