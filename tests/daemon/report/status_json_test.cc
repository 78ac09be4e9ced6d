// The status document as rendered from a view built by hand: where each
// session's tensors live, the stage of each save in flight, the recent
// rates; and the fields scripts already read stay as they were.
#include "report/status_json.h"

#include "base/json_parse.h"
#include "catch.h"

namespace pccheck {
namespace {

SessionInfo SessionOn(std::vector<int> devices, bool host) {
  SessionInfo s;
  s.job = "job";
  s.devices = std::move(devices);
  s.host_tensors = host;
  return s;
}

InflightInfo Save(uint64_t step, bool snapshot_done, bool committing) {
  InflightInfo i;
  i.job = "job";
  i.step = step;
  i.bytes_total = 1000;
  i.bytes_copied = snapshot_done ? 1000 : 400;
  i.bytes_written = committing ? 1000 : 200;
  i.snapshot_done = snapshot_done;
  i.committing = committing;
  i.elapsed_s = 1.5;
  return i;
}

TEST_CASE("status names where each session's tensors live and each save's stage") {
  StatusView v;
  v.version = "9.9";
  v.uptime_s = 12;
  v.config_json = R"({"root": "/r"})";
  v.sessions = {SessionOn({}, true), SessionOn({0}, false), SessionOn({0, 1}, true),
                SessionOn({}, false)};
  v.inflight = {Save(1, false, false), Save(2, true, false), Save(3, true, true)};
  v.stats.pool_bytes_total = 4096;
  v.stats.pool_bytes_free = 1024;
  v.stats.write_bytes_per_s_recent = 1.5e9;
  v.stats.copy_bytes_per_s_recent = 2.25e9;
  v.stats.bytes_copied = 77;
  v.stats.recent_errors = {"IoError: boom"};

  auto doc = ParseJson(RenderStatusJson(v));
  REQUIRE(doc.ok());
  const auto& d = *doc;
  const auto& s = d["sessions"].items();
  REQUIRE(s.size() == 4);
  CHECK(s[0]["device"].AsString() == "host");
  CHECK(s[0]["devices"].is_array());
  CHECK(s[0]["devices"].items().empty());
  CHECK(s[1]["device"].AsString() == "0");
  CHECK(s[2]["device"].AsString() == "host,0,1");
  REQUIRE(s[2]["devices"].items().size() == 2);
  CHECK(s[2]["devices"].items()[1].AsInt() == 1);
  CHECK(s[3]["device"].AsString() == "");  // nothing registered yet

  const auto& i = d["inflight"].items();
  REQUIRE(i.size() == 3);
  CHECK(i[0]["stage"].AsString() == "copying");
  CHECK(i[1]["stage"].AsString() == "writing");
  CHECK(i[2]["stage"].AsString() == "committing");
  CHECK(i[2]["bytes_written"].AsUint() == 1000);
  CHECK(i[0]["elapsed_s"].AsDouble() == 1.5);

  CHECK(d["write_gbps_recent"].AsDouble() == 1.5);
  CHECK(d["copy_gbps_recent"].AsDouble() == 2.25);
  CHECK(d["bytes_copied"].AsUint() == 77);

  // The fields scripts already depend on, unchanged.
  CHECK(d["version"].AsString() == "9.9");
  CHECK(d["uptime_s"].AsInt() == 12);
  CHECK(d["config"]["root"].AsString() == "/r");
  CHECK(d["pool_bytes_total"].AsUint() == 4096);
  CHECK(d["pool_bytes_free"].AsUint() == 1024);
  REQUIRE(d["recent_errors"].items().size() == 1);
  CHECK(d["recent_errors"].items()[0].AsString() == "IoError: boom");
}

}  // namespace
}  // namespace pccheck
