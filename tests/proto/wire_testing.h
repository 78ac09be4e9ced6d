// Checks shared by the socket message tests (wire_test.cc, store_wire_test.cc):
// a round trip that must be exact, and a table of sample encodings whose every
// truncation and extension must fail to decode.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "catch.h"

namespace pccheck::wire {

inline constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

// Writes the low `bytes` bytes of v, little-endian, over s at `at`.
inline void Put(std::string& s, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// A Corruption status whose message contains `what`.
inline bool Mentions(const Status& s, const std::string& what) {
  return s.code() == Code::kCorruption && s.message().find(what) != std::string::npos;
}

// m encodes, decodes equal, and re-encodes to the same bytes.
template <typename T>
void RequireRoundTrip(const T& m, Result<T> (*decode)(std::string_view)) {
  const std::string bytes = Encode(m);
  Result<T> back = decode(bytes);
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  REQUIRE(back.value() == m);
  REQUIRE(Encode(back.value()) == bytes);
}

// One sample of a message: its encoding, and whether some bytes decode to a
// message that re-encodes to exactly those bytes.
struct Sample {
  const char* name;
  std::string bytes;
  bool (*decodes_equal)(const std::string&);
};

template <typename T, Result<T> (*Decode)(std::string_view)>
bool DecodesEqual(const std::string& bytes) {
  Result<T> r = Decode(bytes);
  return r.ok() && Encode(r.value()) == bytes;
}

// Each sample decodes; every prefix of it, and it with a byte more, does not.
inline void RequireEveryTruncationAndExtensionFails(const std::vector<Sample>& samples) {
  for (const Sample& s : samples) {
    CAPTURE(s.name);
    REQUIRE(s.decodes_equal(s.bytes));
    for (size_t n = 0; n < s.bytes.size(); ++n) {
      CAPTURE(n);
      REQUIRE_FALSE(s.decodes_equal(s.bytes.substr(0, n)));
    }
    REQUIRE_FALSE(s.decodes_equal(s.bytes + '\0'));
  }
}

}  // namespace pccheck::wire
