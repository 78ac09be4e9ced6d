// DaemonLauncher: a pccheckd it starts answers on its socket when Start
// returns, comes back on the same store after a kill, and one that cannot
// start is reported with its log instead of waited for.
#include "support/daemon_launcher.h"

#include <sys/wait.h>

#include "catch.h"

namespace pccheck::testing {
namespace {

TEST_CASE("DaemonLauncher: started means answering a status request", "[support]") {
  DaemonLauncher daemon;
  const Status started = daemon.Start();
  INFO(started.message());
  REQUIRE(started.ok());
  CHECK(daemon.Alive());
  auto status = QueryStatus(daemon.socket());
  INFO(status.status().ToString());
  REQUIRE(status.ok());
  CHECK(status->find("\"sessions\"") != std::string::npos);

  // Killed, it refuses; started again on the same store and socket, it answers.
  daemon.Kill();
  CHECK_FALSE(daemon.Alive());
  CHECK_FALSE(QueryStatus(daemon.socket()).ok());
  REQUIRE(daemon.Start().ok());
  CHECK(QueryStatus(daemon.socket()).ok());

  auto exited = daemon.Terminate(30'000);
  REQUIRE(exited);
  CHECK(WIFEXITED(*exited));
  CHECK(WEXITSTATUS(*exited) == 0);
  CHECK(daemon.Log().find("---- pccheckd started") != std::string::npos);
}

TEST_CASE("DaemonLauncher: a daemon that exits at start is reported with its log", "[support]") {
  LaunchOptions options;
  options.flags = {"--pool", "not-a-size"};
  DaemonLauncher daemon(options);
  const Status started = daemon.Start();
  CHECK_FALSE(started.ok());
  CHECK(started.message().find("pccheckd exited at start") != std::string::npos);
  CHECK(started.message().find("not-a-size") != std::string::npos);
  CHECK_FALSE(daemon.running());
}

}  // namespace
}  // namespace pccheck::testing
