// Runs the built `pccheck` binary the way a user or a script does, and checks
// what it prints and how it exits.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "catch.h"
#include "pccheck_run.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

using testing::Pccheck;
using testing::Quote;
using testing::Run;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> CommittedLines(const std::string& out) {
  std::vector<std::string> committed;
  for (const auto& line : Lines(out)) {
    if (line.rfind("committed step=", 0) == 0) committed.push_back(line);
  }
  return committed;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The JSON objects of a flat array, as text: enough to look for fields.
std::vector<std::string> JsonObjects(const std::string& array) {
  std::vector<std::string> objects;
  size_t pos = 0;
  while ((pos = array.find('{', pos)) != std::string::npos) {
    const size_t end = array.find('}', pos);
    if (end == std::string::npos) break;
    objects.push_back(array.substr(pos, end - pos + 1));
    pos = end + 1;
  }
  return objects;
}

TEST_CASE("pccheck bench commits, list shows the latest, verify passes") {
  testing::TempDir dir;
  const std::string store = Quote(dir.path() + "/store");

  Run bench = Pccheck("bench --root " + store + " --size 8M --count 3 --chunk 1M --json", dir);
  INFO("stdout:\n" << bench.out << "\nstderr:\n" << bench.err);
  REQUIRE(bench.exit_code == 0);
  const auto committed = CommittedLines(bench.out);
  REQUIRE(committed.size() == 3);
  CHECK(Contains(bench.out, "committed step=1\n"));
  CHECK(Contains(bench.out, "committed step=3\n"));

  std::string json;
  for (const auto& line : Lines(bench.out)) {
    if (!line.empty() && line.front() == '{') json = line;
  }
  REQUIRE(!json.empty());
  for (const char* field : {"\"persist_gbps\": ", "\"raw_direct_gbps\": ", "\"ratio\": ",
                            "\"seconds\": ", "\"writers\": ", "\"inflight\": "}) {
    CHECK(Contains(json, field));
  }
  CHECK(Contains(json, "\"checkpoints\": 3"));
  CHECK(Contains(json, "\"bytes\": 25165824"));
  CHECK(Contains(json, "\"chunk_bytes\": 1048576"));
  // The raw write test cleans up after itself.
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/store")) {
    CHECK(e.is_directory());
  }

  Run list = Pccheck("list --root " + store + " --json", dir);
  INFO("list:\n" << list.out << list.err);
  REQUIRE(list.exit_code == 0);
  int latest = 0;
  for (const auto& object : JsonObjects(list.out)) {
    CHECK(Contains(object, "\"job\": \"bench\""));
    CHECK(Contains(object, "\"rank\": 0"));
    if (Contains(object, "\"latest\": true")) {
      ++latest;
      CHECK(Contains(object, "\"step\": 3,"));
      CHECK(Contains(object, "\"bytes\": 8388608"));
    }
  }
  CHECK(latest == 1);

  Run table = Pccheck("list --root " + store, dir);
  CHECK(table.exit_code == 0);
  CHECK(Contains(table.out, "JOB"));
  CHECK(Contains(table.out, "8 MiB"));

  Run verify = Pccheck("verify --root " + store, dir);
  INFO("verify:\n" << verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(Contains(verify.out, "OK    bench rank 0 step 3 (latest)"));

  // A rerun continues after the latest step instead of failing on old steps.
  Run again = Pccheck("bench --root " + store + " --size 8M --count 1 --chunk 1M", dir);
  INFO("rerun:\n" << again.out << again.err);
  CHECK(again.exit_code == 0);
  CHECK(CommittedLines(again.out) == std::vector<std::string>{"committed step=4"});
  CHECK(Contains(again.out, "GB/s"));
}

TEST_CASE("pccheck verify names a damaged latest checkpoint and fails") {
  testing::TempDir dir;
  const std::string root = dir.path() + "/store";
  Run bench = Pccheck("bench --root " + Quote(root) + " --size 2M --count 2 --chunk 1M", dir);
  INFO(bench.out << bench.err);
  REQUIRE(bench.exit_code == 0);

  // Flip a byte in the first chunk of every data file (the big files).
  int damaged = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.file_size() < (1u << 20)) continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    char c = 0;
    f.seekg(100);
    f.get(c);
    f.seekp(100);
    f.put(static_cast<char>(c ^ 0x5a));
    ++damaged;
  }
  REQUIRE(damaged > 0);

  Run verify = Pccheck("verify --root " + Quote(root), dir);
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code != 0);
  CHECK(Contains(verify.out, "FAIL  bench rank 0 step 2 (latest)"));
  CHECK(Contains(verify.err, "damaged"));
}

TEST_CASE("pccheck rejects bad arguments with a message naming them") {
  testing::TempDir dir;
  const std::string store = Quote(dir.path() + "/store");

  SECTION("a size that is not a size") {
    Run run = Pccheck("bench --root " + store + " --size 12X --count 1", dir);
    CHECK(run.exit_code != 0);
    CHECK(Contains(run.err, "--size"));
    CHECK(Contains(run.err, "12X"));
    CHECK(Contains(run.err, "64M"));  // the accepted forms
    CHECK(CommittedLines(run.out).empty());
  }
  SECTION("a negative size") {
    Run run = Pccheck("bench --root " + store + " --size -5M --count 1", dir);
    CHECK(run.exit_code != 0);
    CHECK(!run.err.empty());
  }
  SECTION("a missing required option") {
    Run run = Pccheck("bench --root " + store + " --size 1M", dir);
    CHECK(run.exit_code != 0);
    CHECK(Contains(run.err, "--count"));
  }
  SECTION("a chunk that is not a multiple of 4 KiB") {
    Run run = Pccheck("bench --root " + store + " --size 1M --count 1 --chunk 1000", dir);
    CHECK(run.exit_code != 0);
    CHECK(Contains(run.err, "chunk"));
  }
  SECTION("no command") {
    Run run = Pccheck("", dir);
    CHECK(run.exit_code != 0);
  }
  SECTION("a store that does not exist") {
    for (const char* cmd : {"list", "verify"}) {
      Run run = Pccheck(std::string(cmd) + " --root " + store, dir);
      INFO(cmd << ": " << run.err);
      CHECK(run.exit_code != 0);
      CHECK(Contains(run.err, "no checkpoint store"));
      CHECK(Contains(run.err, "--root"));
      CHECK(!std::filesystem::exists(dir.path() + "/store"));
    }
  }
}

}  // namespace
}  // namespace pccheck
