// The disk ceiling (io/disk_ceiling.h): every stream count moves at least the
// bytes asked for, in whole blocks, both passes are reported, the best point
// wins, and no scratch file is left behind. Rates themselves are the benches'.
#include "io/disk_ceiling.h"

#include <memory>
#include <string>
#include <vector>

#include "catch.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

using testing::TempDir;

constexpr uint64_t kBlock = 64 << 10;

TEST_CASE("MeasureWriteCeiling tries every stream count over at least the bytes asked", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto c = MeasureWriteCeiling(fs.get(), dir.path(), 1000000, kBlock);
  REQUIRE(c.ok());
  CHECK(c->bytes >= 1000000);
  CHECK(c->bytes % (8 * kBlock) == 0);  // each of 1, 2, 4, 8 streams writes whole blocks
  CHECK(c->block_bytes == kBlock);
  REQUIRE(c->points.size() == 4);
  std::vector<int> streams;
  for (const CeilingPoint& p : c->points) {
    streams.push_back(p.streams);
    CHECK(p.fresh_seconds > 0);
    CHECK(p.rewrite_seconds > 0);
  }
  CHECK(streams == std::vector<int>{1, 2, 4, 8});
  const CeilingBest best = c->best(), fresh = c->fresh(), rewrite = c->rewrite();
  CHECK(best.gbps == std::max(fresh.gbps, rewrite.gbps));
  for (const CeilingPoint& p : c->points) {
    const double b = static_cast<double>(c->bytes);  // the rate as the ceiling computes it
    CHECK(b / p.fresh_seconds / 1e9 <= fresh.gbps);
    CHECK(b / p.rewrite_seconds / 1e9 <= rewrite.gbps);
  }
  auto left = fs->List(dir.path());
  REQUIRE(left.ok());
  CHECK(left->empty());  // every scratch file removed

  JsonObject j;
  const std::string json = AddWriteCeilingFields(j, *c).str();
  for (const char* key : {"\"raw_streams\": ", "\"raw_fresh_gbps\": ", "\"raw_rewrite_streams\": ",
                          "\"raw_sweep\": [{\"streams\": 1, "}) {
    CHECK(json.find(key) != std::string::npos);
  }
}

TEST_CASE("Merge keeps the faster measurement of each stream count", "[io]") {
  WriteCeiling w;
  w.bytes = 1000000000;  // 1 GB: a point of 1 s is 1 GB/s
  w.points = {{1, 2.0, 4.0, 0}, {4, 1.0, 1.0, 0}};
  WriteCeiling again = w;
  again.points = {{1, 1.0, 8.0, 0}, {8, 0.5, 0.25, 0}};
  w.Merge(again);
  REQUIRE(w.points.size() == 3);
  CHECK(w.points[0].fresh_seconds == 1.0);    // the faster of 2.0 and 1.0
  CHECK(w.points[0].rewrite_seconds == 4.0);  // the faster of 4.0 and 8.0
  CHECK(w.points[1].fresh_seconds == 1.0);    // measured once
  CHECK(w.best().streams == 8);
  CHECK(w.best().gbps == 4.0);

  ReadCeiling r;
  r.bytes = 1000000000;
  r.points = {{2, 0, 0, 2.0}};
  ReadCeiling r2 = r;
  r2.points = {{2, 0, 0, 0.5}};
  r.Merge(r2);
  REQUIRE(r.points.size() == 1);
  CHECK(r.best().gbps == 2.0);
  r2.points = {{2, 0, 0, 4.0}};
  r.Merge(r2);  // slower: kept as it was
  CHECK(r.best().gbps == 2.0);
}

TEST_CASE("MeasureReadCeiling reads every byte of its files once per stream count", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  REQUIRE(fs->WriteFileAtomic(a, std::string(3 * kBlock + 4096, 'a')).ok());
  REQUIRE(fs->WriteFileAtomic(b, std::string(kBlock, 'b')).ok());
  // 5 blocks: 3 streams read contiguous spans of 2, 2 and 1; 8 streams
  // leave some with nothing to read. Each layout must read every byte (the
  // ceiling fails otherwise).
  auto c = MeasureReadCeiling(fs.get(), {a, b}, kBlock, {1, 3, 8});
  REQUIRE(c.ok());
  CHECK(c->bytes == 4 * kBlock + 4096);
  REQUIRE(c->points.size() == 3);
  CHECK(c->points[0].streams == 1);
  CHECK(c->points[1].streams == 3);
  CHECK(c->points[2].streams == 8);
  CHECK(c->best().streams != 0);
}

TEST_CASE("The disk ceiling refuses blocks O_DIRECT cannot take and empty stream lists", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  CHECK(MeasureWriteCeiling(fs.get(), dir.path(), 1 << 20, 1000).status().code() ==
        Code::kInvalidArgument);
  CHECK(MeasureWriteCeiling(fs.get(), dir.path(), 1 << 20, kBlock, {}).status().code() ==
        Code::kInvalidArgument);
  CHECK(MeasureReadCeiling(fs.get(), {}, 0).status().code() == Code::kInvalidArgument);
}

TEST_CASE("MeasureWriteCeiling names the directory when it cannot write there", "[io]") {
  auto fs = NewPosixFileSystem();
  auto c = MeasureWriteCeiling(fs.get(), "/nonexistent-pccheck-dir", 1 << 20, kBlock);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().ToString().find("/nonexistent-pccheck-dir") != std::string::npos);
}

}  // namespace
}  // namespace pccheck
