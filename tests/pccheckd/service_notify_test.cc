// pccheckd under a service manager: started with $NOTIFY_SOCKET and
// $WATCHDOG_USEC as systemd starts a Type=notify unit, it says READY=1 once
// it serves, keeps STATUS= current, pings the watchdog, and says STOPPING=1
// on SIGTERM.
#include <sys/wait.h>

#include <string>

#include "catch.h"
#include "pccheck/client.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/notify_listener.h"
#include "support/run_program.h"
#include "support/watchdog.h"

namespace pccheck::testing {
namespace {

TEST_CASE("pccheckd speaks the notify protocol: READY, STATUS, WATCHDOG, STOPPING", "[daemon]") {
  Watchdog watchdog(120);
  NotifyListener systemd;
  Daemon daemon;
  {
    // Read by the daemon at its start; restored before any other test runs.
    ScopedEnv socket("NOTIFY_SOCKET", systemd.address());
    ScopedEnv usec("WATCHDOG_USEC", "2000000");  // a ping every second
    ScopedEnv pid("WATCHDOG_PID", std::nullopt);
    daemon.Start();
  }
  watchdog.Guard(daemon.pid());

  // The first message: ready (the socket answered Start's status query,
  // and READY=1 is sent only after it listens), with a first status line.
  auto ready = systemd.Receive(30'000);
  INFO(daemon.Log());
  REQUIRE(ready);
  CHECK(*ready == "READY=1\nSTATUS=serving 0 sessions, 0 in flight; 0 committed, 0 failed");

  auto ping = systemd.ReceiveContaining("WATCHDOG=1", 30'000);
  REQUIRE(ping);
  CHECK(*ping == "STATUS=serving 0 sessions, 0 in flight; 0 committed, 0 failed\nWATCHDOG=1");

  // A connected trainer shows in the status line.
  auto client = Client::Connect({daemon.socket(), "notify", 0});
  REQUIRE(client.ok());
  CHECK(systemd.ReceiveContaining("STATUS=serving 1 session, ", 30'000));
  client.value().reset();

  auto status = daemon.Terminate(30'000);
  CHECK(ExitedOk(status));
  auto stopping = systemd.ReceiveContaining("STOPPING=1", 10'000);
  REQUIRE(stopping);
  CHECK(stopping->find("STATUS=stopping") != std::string::npos);
  CHECK(daemon.WaitForLog("service manager: notify socket " + systemd.address(), 0));
}

TEST_CASE("pccheckd without NOTIFY_SOCKET sends nothing and says nothing of it", "[daemon]") {
  Watchdog watchdog(120);
  ScopedEnv socket("NOTIFY_SOCKET", std::nullopt);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  CHECK(ExitedOk(daemon.Terminate(30'000)));
  CHECK_FALSE(Contains(daemon.Log(), "service manager"));
}

}  // namespace
}  // namespace pccheck::testing
