// CRC32C: known vectors, hardware == table, and Extend composition.
#include "base/crc32c.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "catch.h"

namespace pccheck {
namespace {

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST_CASE("crc32c matches the published test vectors", "[proto]") {
  const char* digits = "123456789";
  CHECK(Crc32c(digits, 9) == 0xE3069283u);
  CHECK(Crc32cExtendPortable(0, digits, 9) == 0xE3069283u);

  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<uint8_t>(i);
    down[i] = static_cast<uint8_t>(31 - i);
  }
  // RFC 3720 (iSCSI), appendix B.4.
  CHECK(Crc32c(zeros.data(), 32) == 0x8A9136AAu);
  CHECK(Crc32c(ones.data(), 32) == 0x62A8AB43u);
  CHECK(Crc32c(up.data(), 32) == 0x46DD794Eu);
  CHECK(Crc32c(down.data(), 32) == 0x113FDB5Cu);
  CHECK(Crc32cExtendPortable(0, zeros.data(), 32) == 0x8A9136AAu);
  CHECK(Crc32c(nullptr, 0) == 0u);
}

TEST_CASE("crc32c hardware and table paths agree on every length and alignment", "[proto]") {
  INFO("hardware path in use: " << Crc32cHardware());
  const std::vector<uint8_t> data = Random(3 * 8192 * 2 + 4096, 1);
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 1100; ++n) lengths.push_back(n);
  // Around the 3-way block boundaries (3 x 256 and 3 x 8192 bytes).
  for (size_t edge : {768u, 1536u, 24576u, 49152u}) {
    for (size_t n = edge - 9; n <= edge + 9; ++n) lengths.push_back(n);
  }
  std::mt19937 rng(2);
  for (int i = 0; i < 200; ++i) lengths.push_back(rng() % (data.size() - 8));
  for (size_t n : lengths) {
    for (size_t align = 0; align < 8; ++align) {
      CAPTURE(n, align);
      REQUIRE(Crc32c(data.data() + align, n) == Crc32cExtendPortable(0, data.data() + align, n));
    }
  }
}

TEST_CASE("crc32c extend composes over any split", "[proto]") {
  const std::vector<uint8_t> data = Random(60000, 3);
  const uint32_t whole = Crc32c(data.data(), data.size());
  REQUIRE(whole == Crc32cExtendPortable(0, data.data(), data.size()));
  for (size_t k : {0ul, 1ul, 7ul, 8ul, 255ul, 4096ul, 24577ul, 59999ul, 60000ul}) {
    CAPTURE(k);
    CHECK(Crc32cExtend(Crc32c(data.data(), k), data.data() + k, data.size() - k) == whole);
    CHECK(Crc32cExtendPortable(Crc32cExtendPortable(0, data.data(), k), data.data() + k,
                               data.size() - k) == whole);
  }
  // Byte at a time, mixing the two paths.
  uint32_t crc = 0;
  for (size_t i = 0; i < 2000; ++i) {
    crc = (i % 2) ? Crc32cExtend(crc, &data[i], 1) : Crc32cExtendPortable(crc, &data[i], 1);
  }
  CHECK(crc == Crc32c(data.data(), 2000));
}

TEST_CASE("crc32c detects every single-bit flip in a chunk", "[proto]") {
  std::vector<uint8_t> data = Random(4096, 4);
  const uint32_t good = Crc32c(data.data(), data.size());
  for (size_t i = 0; i < data.size(); i += 97) {
    for (int bit = 0; bit < 8; ++bit) {
      data[i] ^= static_cast<uint8_t>(1 << bit);
      CHECK(Crc32c(data.data(), data.size()) != good);
      data[i] ^= static_cast<uint8_t>(1 << bit);
    }
  }
}

}  // namespace
}  // namespace pccheck
