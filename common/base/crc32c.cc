// CRC32C: a slicing-by-8 table path and an SSE4.2 path chosen at run time.
//
// The SSE4.2 `crc32` instruction has a latency of 3 cycles but issues once per
// cycle, so the hardware path runs three independent streams over adjacent
// blocks and then merges them: CRCs are linear, so the CRC of A||B is the CRC
// of A "shifted" past |B| zero bytes, xor the CRC of B started from zero. The
// shift is a 32x32 bit matrix, applied here as four 256-entry tables.
#include "base/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace pccheck {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // Castagnoli, bit-reflected

using Tables = std::array<std::array<uint32_t, 256>, 8>;

// t[0] is the classic byte table; t[k][b] is the CRC of byte b followed by k zero bytes.
constexpr Tables MakeSlicingTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (kPoly & (0u - (c & 1)));
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}
constexpr Tables kTables = MakeSlicingTables();

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// `c` is the raw register (already inverted); returns the raw register.
uint32_t PortableRaw(uint32_t c, const uint8_t* p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w = LoadLe64(p) ^ c;
    c = kTables[7][w & 0xFF] ^ kTables[6][(w >> 8) & 0xFF] ^ kTables[5][(w >> 16) & 0xFF] ^
        kTables[4][(w >> 24) & 0xFF] ^ kTables[3][(w >> 32) & 0xFF] ^ kTables[2][(w >> 40) & 0xFF] ^
        kTables[1][(w >> 48) & 0xFF] ^ kTables[0][w >> 56];
  }
  for (; n > 0; ++p, --n) c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xFF];
  return c;
}

#if defined(__x86_64__)

constexpr size_t kLong = 8192;  // per-stream block sizes of the 3-way loops
constexpr size_t kShort = 256;

// Applies "append n zero bytes" to a raw register, one table per input byte.
struct Shift {
  std::array<std::array<uint32_t, 256>, 4> t;
  explicit Shift(size_t n) {
    uint32_t basis[32];
    for (int j = 0; j < 32; ++j) {
      uint32_t c = 1u << j;
      for (size_t i = 0; i < n; ++i) c = (c >> 8) ^ kTables[0][c & 0xFF];
      basis[j] = c;
    }
    for (int k = 0; k < 4; ++k) {
      for (uint32_t v = 0; v < 256; ++v) {
        uint32_t r = 0;
        for (int bit = 0; bit < 8; ++bit) r ^= (v >> bit & 1) ? basis[8 * k + bit] : 0;
        t[k][v] = r;
      }
    }
  }
  uint32_t operator()(uint32_t c) const {
    return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF] ^ t[3][c >> 24];
  }
};

struct HardwareShifts {
  Shift long_shift{kLong};
  Shift short_shift{kShort};
};

__attribute__((target("sse4.2"))) uint64_t Crc8(uint64_t c, const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return _mm_crc32_u64(c, w);
}

// Runs three streams over blocks of `block` bytes while at least 3 blocks remain.
__attribute__((target("sse4.2"))) uint32_t ThreeWay(uint32_t c, const uint8_t*& p, size_t& n,
                                                    size_t block, const Shift& shift) {
  while (n >= 3 * block) {
    uint64_t c0 = c, c1 = 0, c2 = 0;
    for (const uint8_t* end = p + block; p < end; p += 8) {
      c0 = Crc8(c0, p);
      c1 = Crc8(c1, p + block);
      c2 = Crc8(c2, p + 2 * block);
    }
    c = shift(shift(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1)) ^
        static_cast<uint32_t>(c2);
    p += 2 * block;
    n -= 3 * block;
  }
  return c;
}

__attribute__((target("sse4.2"))) uint32_t HardwareRaw(uint32_t c, const uint8_t* p, size_t n,
                                                       const HardwareShifts& s) {
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; ++p, --n) c = _mm_crc32_u8(c, *p);
  c = ThreeWay(c, p, n, kLong, s.long_shift);
  c = ThreeWay(c, p, n, kShort, s.short_shift);
  uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) c64 = Crc8(c64, p);
  c = static_cast<uint32_t>(c64);
  for (; n > 0; ++p, --n) c = _mm_crc32_u8(c, *p);
  return c;
}

// Built once, on first use (thread-safe static initialization).
const HardwareShifts* HardwareOrNull() {
  static const HardwareShifts* const shifts =
      __builtin_cpu_supports("sse4.2") ? new HardwareShifts : nullptr;  // never freed
  return shifts;
}

#else

struct HardwareShifts {};
uint32_t HardwareRaw(uint32_t c, const uint8_t*, size_t, const HardwareShifts&) { return c; }
const HardwareShifts* HardwareOrNull() { return nullptr; }

#endif

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  const HardwareShifts* hw = HardwareOrNull();
  return ~(hw ? HardwareRaw(~crc, p, n, *hw) : PortableRaw(~crc, p, n));
}

uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n) {
  return ~PortableRaw(~crc, static_cast<const uint8_t*>(data), n);
}

bool Crc32cHardware() { return HardwareOrNull() != nullptr; }

}  // namespace pccheck
