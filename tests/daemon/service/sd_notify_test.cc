// The notify protocol's sender (daemon/server/sd_notify.h) against a socket
// bound as systemd binds its own.
#include "service/sd_notify.h"

#include <unistd.h>

#include "catch.h"
#include "support/notify_listener.h"

namespace pccheck {
namespace {

using testing::NotifyListener;
using testing::ScopedEnv;

TEST_CASE("ServiceNotifier sends one datagram to a socket path") {
  NotifyListener listener;
  ServiceNotifier n(listener.address(), 0);
  REQUIRE(n.enabled());
  REQUIRE(n.Notify("READY=1\nSTATUS=serving 0 sessions").ok());
  CHECK(listener.Receive(10'000) ==
        std::optional<std::string>("READY=1\nSTATUS=serving 0 sessions"));
  REQUIRE(n.Notify("STOPPING=1").ok());
  CHECK(listener.Receive(10'000) == std::optional<std::string>("STOPPING=1"));
}

TEST_CASE("ServiceNotifier reaches an abstract socket named with '@'") {
  NotifyListener listener(/*abstract=*/true);
  REQUIRE(listener.address()[0] == '@');
  ServiceNotifier n(listener.address(), 0);
  REQUIRE(n.Notify("WATCHDOG=1").ok());
  CHECK(listener.Receive(10'000) == std::optional<std::string>("WATCHDOG=1"));
}

TEST_CASE("ServiceNotifier::FromEnvironment follows NOTIFY_SOCKET and is a no-op without it") {
  NotifyListener listener;
  {
    ScopedEnv socket("NOTIFY_SOCKET", listener.address());
    ScopedEnv usec("WATCHDOG_USEC", "3000000");
    ScopedEnv pid("WATCHDOG_PID", std::to_string(::getpid()));
    ServiceNotifier n = ServiceNotifier::FromEnvironment();
    CHECK(n.enabled());
    CHECK(n.socket() == listener.address());
    CHECK(n.watchdog_usec() == 3'000'000);
    REQUIRE(n.Notify("READY=1").ok());
    CHECK(listener.Receive(10'000) == std::optional<std::string>("READY=1"));
  }
  ScopedEnv socket("NOTIFY_SOCKET", std::nullopt);
  ScopedEnv usec("WATCHDOG_USEC", "3000000");
  ServiceNotifier off = ServiceNotifier::FromEnvironment();
  CHECK_FALSE(off.enabled());
  CHECK(off.Notify("READY=1").ok());
}

TEST_CASE("The watchdog interval applies only to the process WATCHDOG_PID names") {
  CHECK(WatchdogUsecFor("2000000", nullptr, 42) == 2'000'000);
  CHECK(WatchdogUsecFor("2000000", "", 42) == 2'000'000);
  CHECK(WatchdogUsecFor("2000000", "42", 42) == 2'000'000);
  CHECK(WatchdogUsecFor("2000000", "43", 42) == 0);  // meant for our parent, say
  CHECK(WatchdogUsecFor("2000000", "4x", 42) == 0);
  CHECK(WatchdogUsecFor(nullptr, nullptr, 42) == 0);
  CHECK(WatchdogUsecFor("", nullptr, 42) == 0);
  CHECK(WatchdogUsecFor("-1", nullptr, 42) == 0);
  CHECK(WatchdogUsecFor("2e6", nullptr, 42) == 0);
}

TEST_CASE("ServiceNotifier errors name NOTIFY_SOCKET and the cause") {
  Status relative = ServiceNotifier("run/notify", 0).Notify("READY=1");
  CHECK(relative.code() == Code::kInvalidArgument);
  CHECK(relative.message().find("NOTIFY_SOCKET='run/notify'") != std::string::npos);

  testing::TempDir dir;
  const std::string missing = dir.path() + "/nobody-listens";
  Status gone = ServiceNotifier(missing, 0).Notify("READY=1");
  CHECK_FALSE(gone.ok());
  CHECK(gone.message().find(missing) != std::string::npos);
  CHECK(gone.message().find("No such file") != std::string::npos);

  Status too_long = ServiceNotifier("/" + std::string(200, 'x'), 0).Notify("READY=1");
  CHECK(too_long.code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace pccheck
