#include "support/daemon.h"

#include "catch.h"

namespace pccheck::testing {
namespace {

LaunchOptions WithFlags(std::vector<std::string> extra, std::string socket) {
  LaunchOptions options;
  options.flags = std::move(extra);
  options.socket = std::move(socket);
  return options;
}

}  // namespace

Daemon::Daemon(std::vector<std::string> extra, std::string socket)
    : DaemonLauncher(WithFlags(std::move(extra), std::move(socket))) {}

void Daemon::Start() {
  REQUIRE(!running());
  const pccheck::Status started = DaemonLauncher::Start();
  INFO(started.message());
  REQUIRE(started.ok());
}

JsonValue Daemon::Status() const {
  auto json = QueryStatus(socket());
  INFO(Log());
  REQUIRE(json.status().ToString() == "Ok");
  auto doc = ParseJson(*json);
  INFO(*json);
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

}  // namespace pccheck::testing
