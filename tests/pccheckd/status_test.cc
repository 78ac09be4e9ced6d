// `pccheck status` against a real pccheckd: the fields added for people
// watching a node (where each session's tensors live, recent bandwidth) and
// the fields scripts already read.
#include <unistd.h>

#include <string>

#include "catch.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/run_program.h"
#include "support/test_util.h"
#include "support/watchdog.h"
#include "test_trainer.h"

namespace pccheck::testing {
namespace {

TEST_CASE("status reports each session's device and the recent write and copy rates",
          "[daemon][cli]") {
  Watchdog watchdog(60);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  auto t = TestTrainer::Open(daemon.socket(), "ratesjob", 2, 2 << 20);
  REQUIRE(t.status().ToString() == "Ok");
  REQUIRE((*t)->client().Wait((*t)->Step(1).value(), 30'000).ok());

  CliRun json = RunPccheck({"status", "--socket", daemon.socket(), "--json"});
  INFO(json.out << json.err);
  REQUIRE(json.exit_code == 0);
  auto doc = ParseJson(json.out);
  REQUIRE(doc.ok());
  const JsonValue& d = *doc;

  // The fields scripts depend on are all there, with their types.
  CHECK(!d["version"].AsString().empty());
  CHECK(d["uptime_s"].type() == JsonValue::Type::kNumber);
  CHECK(d["config"].is_object());
  CHECK(d["sessions"].is_array());
  CHECK(d["inflight"].is_array());
  CHECK(d["pool_bytes_total"].AsUint() == 16u << 20);
  CHECK(d["pool_bytes_free"].type() == JsonValue::Type::kNumber);
  CHECK(d["recent_errors"].is_array());

  // A trainer with host-memory tensors (shared memory and staged).
  REQUIRE(d["sessions"].items().size() == 1);
  const JsonValue& s = d["sessions"].items()[0];
  CHECK(s["job"].AsString() == "ratesjob");
  CHECK(s["device"].AsString() == "host");
  CHECK(s["devices"].is_array());
  CHECK(s["devices"].items().empty());

  // The save's bytes were copied and written moments ago, inside the ten
  // seconds the rates cover whenever the daemon itself is younger than that.
  const JsonValue& write = d["write_gbps_recent"];
  const JsonValue& copy = d["copy_gbps_recent"];
  REQUIRE(write.type() == JsonValue::Type::kNumber);
  REQUIRE(copy.type() == JsonValue::Type::kNumber);
  CHECK(write.AsDouble() >= 0);
  CHECK(copy.AsDouble() >= 0);
  if (d["uptime_s"].AsInt() < 8) {
    CHECK(write.AsDouble() > 0);
    CHECK(copy.AsDouble() > 0);
  }
  CHECK(d["bytes_copied"].AsUint() >= (*t)->weight_bytes());

  // The view for people: a header line, the pool gauge, the rates, the
  // sessions with their device.
  CliRun text = RunPccheck({"status", "--socket", daemon.socket()});
  INFO(text.out << text.err);
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.starts_with("pccheckd "));
  CHECK(Contains(text.out, "socket " + daemon.socket()));
  CHECK(Contains(text.out, "pool      ["));
  CHECK(Contains(text.out, "rates     write "));
  CHECK(Contains(text.out, "DEVICE"));
  CHECK(Contains(text.out, "ratesjob"));
  CHECK(Contains(text.out, "host"));
  CHECK(Contains(text.out, "errors    none recently"));
}

}  // namespace
}  // namespace pccheck::testing
