// Manifest and latest records: round trips, corruption and hostile input.
#include "proto/manifest.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "base/crc32c.h"
#include "catch.h"

namespace pccheck {
namespace {

Manifest Sample() {
  Manifest m;
  m.job = "llama-7b";
  m.rank = 3;
  m.step = 1200;
  m.wall_time = 1700000000;
  m.slot = 2;
  m.data_bytes = 10000;  // three chunks, the last one short
  m.chunk_bytes = 4096;
  m.tensors = {{"w", "float32", {10, 20}, 0, 800},
               {"empty", "float32", {0}, 800, 0},
               {"b", "bfloat16", {4600}, 800, 9200}};
  m.chunk_crcs = {0x11111111, 0x22222222, 0x33333333};
  m.user_blob = std::string("pickled\0state", 13);
  return m;
}

// Rewrites the CRC32C trailer so that a crafted record gets past the checksum.
void Reseal(std::string& s) {
  uint32_t crc = Crc32c(s.data(), s.size() - 4);
  for (int i = 0; i < 4; ++i) s[s.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
}

void Put(std::string& s, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

std::string Hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += {digits[c >> 4], digits[c & 15]};
  return out;
}

bool Mentions(const Status& s, const std::string& what) {
  return s.code() == Code::kCorruption && s.message().find(what) != std::string::npos;
}

void RequireRoundTrip(const Manifest& m) {
  REQUIRE(CheckManifest(m).ok());
  std::string bytes = EncodeManifest(m);
  Result<Manifest> back = DecodeManifest(bytes);
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  REQUIRE(back.value() == m);
  REQUIRE(EncodeManifest(back.value()) == bytes);
}

TEST_CASE("manifest round trips awkward contents", "[proto]") {
  Manifest m = Sample();
  SECTION("sample") { RequireRoundTrip(m); }
  SECTION("no tensors, no data") {
    m.tensors.clear();
    m.data_bytes = 0;
    m.chunk_bytes = 0;
    m.chunk_crcs.clear();
    m.job.clear();
    m.user_blob.clear();
    RequireRoundTrip(m);
  }
  SECTION("only zero-byte tensors") {
    m.data_bytes = 0;
    m.chunk_crcs.clear();
    m.tensors = {{"a", "f32", {0, 5}, 0, 0}, {"b", "", {}, 0, 0}, {"", "u8", {0}, 0, 0}};
    RequireRoundTrip(m);
  }
  SECTION("large blob with every byte value") {
    std::mt19937 rng(7);
    m.user_blob.resize(5 << 20);
    for (char& c : m.user_blob) c = static_cast<char>(rng());
    RequireRoundTrip(m);
  }
  SECTION("many tensors with the most dims") {
    m.tensors.clear();
    for (int i = 0; i < 20000; ++i) {
      m.tensors.push_back({"layer." + std::to_string(i), "bfloat16",
                           std::vector<int64_t>(kMaxDims, 1), uint64_t(i) * 2, 2});
    }
    m.data_bytes = 40000;
    m.chunk_bytes = 8192;
    m.chunk_crcs.assign(m.chunk_count(), 0xABCDEF01);
    RequireRoundTrip(m);
  }
  SECTION("extreme values and names at their limits") {
    m.rank = std::numeric_limits<uint32_t>::max();
    m.step = std::numeric_limits<uint64_t>::max();
    m.wall_time = std::numeric_limits<int64_t>::min();
    m.slot = std::numeric_limits<uint32_t>::max();
    m.job = std::string(kMaxNameBytes, '\xff');
    m.tensors[0].name = std::string(kMaxNameBytes, '\0');
    m.tensors[0].dtype = std::string(kMaxDtypeBytes, 'x');
    m.tensors[0].shape = {std::numeric_limits<int64_t>::max(), 0};
    RequireRoundTrip(m);
  }
}

TEST_CASE("every single-byte change is detected", "[proto]") {
  SECTION("manifest") {
    const std::string good = EncodeManifest(Sample());
    for (size_t i = 0; i < good.size(); ++i) {
      for (int x = 1; x < 256; ++x) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ x);
        CAPTURE(i, x);
        REQUIRE_FALSE(DecodeManifest(bad).ok());
      }
    }
  }
  SECTION("latest") {
    const std::string good = EncodeLatest({1200, 2, 0xCAFEF00D});
    for (size_t i = 0; i < good.size(); ++i) {
      for (int x = 1; x < 256; ++x) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ x);
        CAPTURE(i, x);
        REQUIRE_FALSE(DecodeLatest(bad).ok());
      }
    }
  }
}

TEST_CASE("every truncation and extension is detected", "[proto]") {
  const std::string manifest = EncodeManifest(Sample());
  const std::string latest = EncodeLatest({5, 1, 42});
  for (size_t n = 0; n < manifest.size(); ++n) {
    CAPTURE(n);
    REQUIRE_FALSE(DecodeManifest(manifest.substr(0, n)).ok());
  }
  for (size_t n = 0; n < latest.size(); ++n) {
    CAPTURE(n);
    REQUIRE_FALSE(DecodeLatest(latest.substr(0, n)).ok());
  }
  CHECK_FALSE(DecodeManifest(manifest + '\0').ok());
  CHECK_FALSE(DecodeLatest(latest + '\0').ok());
  // Still rejected when the checksum is made to fit: the lengths must add up.
  std::string longer = manifest + std::string(4, '\0');
  Reseal(longer);
  CHECK(Mentions(DecodeManifest(longer).status(), "unexpected bytes"));
}

TEST_CASE("crafted huge lengths are rejected without allocating", "[proto]") {
  // Layout offsets for a manifest with job name of J bytes (docs/format.md).
  Manifest m = Sample();
  const size_t j = m.job.size();
  const size_t tensor0 = 60 + j;  // first tensor entry, after the tensor count
  std::string bytes = EncodeManifest(m);
  auto expect = [&](size_t at, uint64_t v, int width, const std::string& what) {
    std::string bad = bytes;
    Put(bad, at, v, width);
    Reseal(bad);
    Status s = DecodeManifest(bad).status();
    INFO(s.ToString());
    CHECK(Mentions(s, what));
  };
  expect(12, 0xFFFFFFFF, 4, "job name of 4294967295 bytes exceeds");
  expect(12, bytes.size(), 4, "job name runs past the end");
  expect(56 + j, 0xFFFFFFFF, 4, "tensor count 4294967295 does not fit");
  expect(tensor0, 0xFFFFFFFF, 4, "tensor name of 4294967295 bytes exceeds");
  expect(tensor0 + 5, 0xFFFFFFFF, 4, "tensor dtype of 4294967295 bytes exceeds");
  expect(tensor0 + 16, 0xFFFFFFFF, 4, "has 4294967295 dims");
  expect(40 + j, ~uint64_t{0}, 8, "chunk checksums for");

  m.tensors.clear();
  bytes = EncodeManifest(m);
  const size_t chunks = 60 + j, blob = chunks + 8 + 4 * m.chunk_crcs.size();
  expect(chunks, ~uint64_t{0}, 8, "chunk count 18446744073709551615 does not fit");
  expect(chunks, uint64_t{1} << 62, 8, "does not fit");
  expect(blob, 0xFFFFFFFF, 4, "user blob of 4294967295 bytes exceeds");
  expect(blob, kMaxUserBlobBytes + 1, 4, "user blob of 268435457 bytes exceeds");
  expect(blob, kMaxUserBlobBytes, 4, "user blob runs past the end");
}

TEST_CASE("inconsistent manifests are rejected with the reason", "[proto]") {
  Manifest m = Sample();
  std::string what;
  SECTION("chunk size") {
    m.chunk_bytes = 1000;
    m.chunk_crcs.assign(m.chunk_count(), 0);
    what = "chunk_bytes 1000 is not a multiple of 4096";
  }
  SECTION("zero chunk size") {
    m.chunk_bytes = 0;
    m.chunk_crcs.clear();
    what = "chunk_bytes is 0 but data_bytes is 10000";
  }
  SECTION("chunk checksum count") {
    m.chunk_crcs.pop_back();
    what = "2 chunk checksums for 3 chunks";
  }
  SECTION("tensor past the data") {
    m.tensors[2].bytes += 1;
    what = "tensor 2 ('b') ends past data_bytes 10000";
  }
  SECTION("tensor end overflows") {
    m.tensors[2].bytes = std::numeric_limits<uint64_t>::max();
    what = "ends past data_bytes";
  }
  SECTION("unsorted") {
    m.tensors = {m.tensors[2], m.tensors[0]};
    what = "tensor 1 ('w') is not sorted by offset";
  }
  SECTION("zero-byte tensor inside another") {
    m.tensors = {m.tensors[2], m.tensors[1]};
    m.tensors[1].offset = 900;
    what = "tensor 1 ('empty') overlaps the tensor before it";
  }
  SECTION("overlap") {
    m.tensors = {m.tensors[0], m.tensors[2]};
    m.tensors[1].offset = 799;
    m.tensors[1].bytes = 100;
    what = "tensor 1 ('b') overlaps the tensor before it";
  }
  SECTION("duplicate name") {
    m.tensors[1].name = "w";
    what = "tensor 1 ('w') duplicates a name";
  }
  SECTION("negative dim") {
    m.tensors[0].shape = {-1};
    what = "negative dim";
  }
  SECTION("too many dims") {
    m.tensors[0].shape.assign(kMaxDims + 1, 1);
    what = "has 17 dims";
  }
  SECTION("dtype too long") {
    m.tensors[0].dtype = std::string(kMaxDtypeBytes + 1, 'f');
    what = "tensor dtype of 33 bytes exceeds";
  }
  SECTION("tensor name too long") {
    m.tensors[0].name = std::string(kMaxNameBytes + 1, 'n');
    what = "tensor name of 4097 bytes exceeds";
  }
  Status checked = CheckManifest(m);
  Status decoded = DecodeManifest(EncodeManifest(m)).status();
  INFO(checked.ToString() << " / " << decoded.ToString());
  CHECK_FALSE(checked.ok());
  CHECK(decoded.message().rfind("manifest: ", 0) == 0);
  CHECK(Mentions(decoded, what));
}

TEST_CASE("latest record round trips and is exactly 32 bytes", "[proto]") {
  LatestRecord r{std::numeric_limits<uint64_t>::max(), 7, 0xFFFFFFFF};
  std::string bytes = EncodeLatest(r);
  REQUIRE(bytes.size() == 32);
  Result<LatestRecord> back = DecodeLatest(bytes);
  REQUIRE(back.ok());
  CHECK(back.value() == r);
}

TEST_CASE("ManifestChecksum tells manifests apart; a whole-file CRC does not", "[proto]") {
  Manifest m = Sample();
  std::string a = EncodeManifest(m);
  m.step += 1;
  std::string b = EncodeManifest(m);
  CHECK(ManifestChecksum(a) != ManifestChecksum(b));
  CHECK(ManifestChecksum(a) == Crc32c(a.data(), a.size() - 4));
  CHECK(Hex(a.substr(a.size() - 4)) ==
        Hex(EncodeLatest({0, 0, ManifestChecksum(a)}).substr(24, 4)));
  // The pitfall the helper exists for: CRC32C residue of a self-checksummed record.
  CHECK(Crc32c(a.data(), a.size()) == 0x48674BC7u);
  CHECK(Crc32c(b.data(), b.size()) == 0x48674BC7u);
}

TEST_CASE("records are told apart by magic and version", "[proto]") {
  Status s = DecodeLatest(EncodeManifest(Sample())).status();
  CHECK(Mentions(s, "latest: bad magic"));
  s = DecodeManifest(EncodeLatest({1, 2, 3})).status();
  CHECK(Mentions(s, "manifest: bad magic"));
  std::string v2 = EncodeLatest({1, 2, 3});
  Put(v2, 8, 2, 4);
  Reseal(v2);
  s = DecodeLatest(v2).status();
  CHECK(Mentions(s, "unsupported format version 2"));
}

// The worked examples in docs/format.md: change both together, and only with
// a new kFormatVersion.
TEST_CASE("encodings match the documented bytes", "[proto]") {
  CHECK(Hex(EncodeLatest({7, 1, 0xDEADBEEF})) ==
        std::string("5043434b4c415445")  // magic "PCCKLATE"
            + "01000000"                 // format version 1
            + "0700000000000000"         // step 7
            + "01000000"                 // slot 1
            + "efbeadde"                 // manifest_crc 0xDEADBEEF
            + "e8b40237");               // CRC32C 0x3702B4E8 of the 28 bytes before
  Manifest m;
  m.job = "j";
  m.step = 7;
  m.wall_time = 1700000000;
  m.slot = 1;
  m.data_bytes = 8;
  m.chunk_bytes = 4096;
  m.tensors = {{"w", "f32", {2}, 0, 8}};
  m.chunk_crcs = {0x12345678};
  const std::string expected = std::string("5043434b4d414e46")  // magic "PCCKMANF"
                               + "01000000"                     // format version 1
                               + "01000000" + "6a"              // job "j"
                               + "00000000"                     // rank 0
                               + "0700000000000000"             // step 7
                               + "00f1536500000000"             // wall_time 1700000000
                               + "01000000"                     // slot 1
                               + "0800000000000000"             // data_bytes 8
                               + "0010000000000000"             // chunk_bytes 4096
                               + "01000000"                     // tensor count 1
                               + "01000000" + "77"              //   name "w"
                               + "03000000" + "663332"          //   dtype "f32"
                               + "01000000"                     //   dim count 1
                               + "0200000000000000"             //   dim 2
                               + "0000000000000000"             //   offset 0
                               + "0800000000000000"             //   bytes 8
                               + "0100000000000000"             // chunk count 1
                               + "78563412"                     //   chunk CRC 0x12345678
                               + "00000000"                     // user blob, 0 bytes
                               + "d2784e6c";                    // CRC32C of the 117 bytes before
  CHECK(Hex(EncodeManifest(m)) == expected);
}

TEST_CASE("a manifest's chunk size is bounded by the largest chunk setting", "[proto][damage]") {
  Manifest m = Sample();
  m.chunk_bytes = kMaxChunkBytes;  // one chunk holds the 10000 bytes
  m.chunk_crcs = {0x11111111};
  RequireRoundTrip(m);

  m.chunk_bytes = kMaxChunkBytes + 4096;
  CHECK(Mentions(CheckManifest(m), "chunk_bytes 2147487744 is larger than a chunk can be"));
  m.chunk_bytes = 1ull << 40;
  CHECK(Mentions(DecodeManifest(EncodeManifest(m)).status(),
                 "chunk_bytes 1099511627776 is larger than a chunk can be (2147483648"));
}

TEST_CASE("ManifestRecordBytes is the size of the encoded record", "[proto]") {
  Manifest m = Sample();
  CHECK(ManifestRecordBytes(m) == EncodeManifest(m).size());
  CHECK(ManifestRecordBytes(Manifest{}) == EncodeManifest(Manifest{}).size());
  m.tensors.push_back(
      {std::string(kMaxNameBytes, 'n'), "x", std::vector<int64_t>(kMaxDims, 1), 10000, 0});
  m.user_blob.assign(5000, 'b');
  CHECK(ManifestRecordBytes(m) == EncodeManifest(m).size());
}
}  // namespace
}  // namespace pccheck
