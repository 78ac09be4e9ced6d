// `pccheck tune` run as a user runs it: bad arguments are refused naming the
// option, and --json / --print-config give what scripts and pccheckd read.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/json_parse.h"
#include "catch.h"
#include "pccheck_run.h"

namespace pccheck::testing {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A small, fast tune: 8 MiB checkpoints, the quick sweep in about a second.
std::string SmallTune(const std::string& root) {
  return "tune --root " + Quote(root) + " --size 8M --iteration-time 0.1 --quick --sweep-seconds 1";
}

TEST_CASE("pccheck tune refuses bad arguments, naming the option", "[cli][tune]") {
  TempDir dir;
  const std::string store = Quote(dir.path() + "/store");
  struct Case {
    std::string args;
    std::string names;  // what the message must name
  };
  const Case cases[] = {
      {"tune --root " + store + " --iteration-time 0.5", "--size"},
      {"tune --root " + store + " --size 1G", "--iteration-time"},
      {"tune --root " + store + " --size 1G --iteration-time 0", "--iteration-time"},
      {"tune --root " + store + " --size 1G --iteration-time fast", "--iteration-time"},
      {"tune --root " + store + " --size 1X --iteration-time 1", "--size"},
      {"tune --root " + store + " --size 1G --iteration-time 1 --budget 2", "--budget"},
      {"tune --root " + store + " --size 1G --iteration-time 1 --budget -0.1", "--budget"},
      {"tune --root " + store + " --size 1G --iteration-time 1 --ranks 0", "--ranks"},
      {"tune --root " + store + " --size 1G --iteration-time 1 --max-interval 0", "--max-interval"},
      {"tune --root " + store + " --size 1G --iteration-time 1 --max-pool 4K", "--max-pool"},
      {"tune --root " + store + " --size 1G --iteration-time 1 --device 999", "--device"},
      {"tune --root " + store + " --size 1G --iteration-time 1 --json --print-config",
       "--print-config"},
  };
  for (const Case& c : cases) {
    Run run = Pccheck(c.args, dir);
    INFO(c.args << "\nstdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.exit_code != 0);
    CHECK(Contains(run.err, c.names));
    CHECK(run.out.empty());
  }
  // Nothing was measured, so nothing was created.
  CHECK(!std::filesystem::exists(dir.path() + "/store"));
  // A budget written as a whole number is a likely slip for a percentage.
  Run percent = Pccheck(cases[5].args, dir);
  CHECK(Contains(percent.err, "2%"));
}

TEST_CASE("pccheck tune --json reports the rates and every recommendation", "[cli][tune]") {
  TempDir dir;
  const std::string root = dir.path() + "/store";
  Run run = Pccheck(SmallTune(root) + " --budget 5% --json", dir);
  INFO("stdout:\n" << run.out << "\nstderr:\n" << run.err);
  REQUIRE(run.exit_code == 0);
  auto doc = ParseJson(run.out);
  REQUIRE(doc.ok());
  const JsonValue& j = *doc;
  CHECK(j["root"].AsString() == root);
  CHECK(j["checkpoint_bytes"].AsUint() == 8u << 20);
  CHECK(j["iteration_s"].AsDouble() == 0.1);
  CHECK(j["budget"].AsDouble() == 0.05);
  for (const char* rate : {"write_gbps", "write_raw_gbps", "copy_gbps", "checksum_gbps"}) {
    INFO(rate);
    CHECK(j[rate].AsDouble() > 0);
  }
  CHECK(j["commit_ms"].AsDouble() > 0);
  CHECK((j["copy_source"].AsString() == "host" || j["copy_source"].AsString() == "gpu"));
  REQUIRE(j["sweep"].is_array());
  REQUIRE(!j["sweep"].items().empty());
  CHECK(j["sweep"].items()[0]["writers"].AsUint() == 1);  // one writer always comes first
  for (const auto& p : j["sweep"].items()) {
    CHECK(p["chunk_bytes"].AsUint() % 4096 == 0);
    CHECK(p["gbps"].AsDouble() > 0);
  }

  // The recommendation is within pccheckd's ranges and self-consistent.
  const uint64_t chunk = j["chunk_bytes"].AsUint();
  const uint64_t inflight = j["max_inflight"].AsUint();
  CHECK(j["writers"].AsUint() >= 1);
  CHECK(chunk % 4096 == 0);
  CHECK((inflight >= 1 && inflight <= 64));
  CHECK(j["pool_bytes"].AsUint() % chunk == 0);
  CHECK(j["pool_bytes"].AsUint() >= 2 * chunk);
  CHECK(j["pool_bytes"].AsUint() <= j["max_pool_bytes"].AsUint());
  CHECK(j["feasible"].AsBool());
  CHECK(j["interval_iterations"].AsUint() >= 1);
  CHECK(std::abs(j["interval_s"].AsDouble() - j["interval_iterations"].AsUint() * 0.1) < 1e-3);
  CHECK(j["slowdown"].AsDouble() <= 0.05 + 1e-9);
  CHECK(j["spacing_s"].AsDouble() >= j["persist_s"].AsDouble());
  CHECK(Contains(j["flags"].AsString(), "--writers " + std::to_string(j["writers"].AsUint())));

  // The config lines are pccheckd's own keys and values: pccheckd reads them.
  const std::string config = dir.path() + "/tuned.toml";
  std::ofstream(config) << j["config"].AsString();
  Run daemon = RunBuilt(
      "pccheckd", "--config " + Quote(config) + " --root " + Quote(root) + " --print-config", dir);
  INFO("pccheckd:\n" << daemon.out << daemon.err);
  CHECK(daemon.exit_code == 0);
  CHECK(Contains(daemon.out, "\nwriters = " + std::to_string(j["writers"].AsUint()) + "\n"));
  CHECK(Contains(daemon.out, "\nmax-inflight = " + std::to_string(inflight) + "\n"));

  // Scratch files are gone; only the directory is left.
  CHECK(std::filesystem::is_empty(root));
}

TEST_CASE("pccheck tune --print-config prints only config lines", "[cli][tune]") {
  TempDir dir;
  Run run = Pccheck(SmallTune(dir.path() + "/store") + " --print-config", dir);
  INFO("stdout:\n" << run.out << "\nstderr:\n" << run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.starts_with("# pccheck tune: 8 MiB checkpoints"));
  for (const char* key : {"\nwriters = ", "\nchunk = \"", "\nmax-inflight = ", "\npool = \""}) {
    CHECK(Contains(run.out, key));
  }
  // Every line is a comment or a key = value line.
  size_t at = 0;
  while (at < run.out.size()) {
    const size_t nl = run.out.find('\n', at);
    const std::string line = run.out.substr(at, nl - at);
    CHECK((line.starts_with("#") || Contains(line, " = ")));
    at = nl == std::string::npos ? run.out.size() : nl + 1;
  }
}

}  // namespace
}  // namespace pccheck::testing
