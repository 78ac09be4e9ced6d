// Daemon: DaemonLauncher for Catch2 tests. Start() fails the test (with the
// daemon's log) instead of returning why; Status() is the status document,
// parsed.
#pragma once

#include <string>
#include <vector>

#include "base/json_parse.h"
#include "support/daemon_launcher.h"

namespace pccheck::testing {

class Daemon : public DaemonLauncher {
 public:
  // `extra` flags go after the defaults (LaunchOptions: a 16 MiB pool of
  // 1 MiB chunks, no O_DIRECT, debug logs). `socket` empty: one in the
  // temporary directory.
  explicit Daemon(std::vector<std::string> extra = {}, std::string socket = "");

  // Starts it and returns once it answers a status request; fails the test
  // after 30 s or when it exits first.
  void Start();
  // The status document, parsed; fails the test when the daemon does not answer.
  JsonValue Status() const;
};

}  // namespace pccheck::testing
