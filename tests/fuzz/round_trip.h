// What the socket message fuzz targets (wire_fuzz.cc, store_wire_fuzz.cc)
// check of each decoder: it rejects with a Corruption status or accepts, and
// whatever it accepts re-encodes to the very same bytes and decodes equal
// again. A failure aborts (the driver or libFuzzer reports the input).
//
// Header only: a libFuzzer build compiles just the target and the sources it
// exercises.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/status.h"

namespace pccheck::fuzz {

// The target's name for failure messages ("wire_fuzz"); each target defines it.
extern const char kTargetName[];

[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "%s: %s\n", kTargetName, what);
  std::abort();
}

template <typename T>
void CheckRejection(const Result<T>& r) {
  if (!r.ok() && r.status().code() != Code::kCorruption) Fail("decode failed without Corruption");
}

template <typename T>
void RoundTrip(std::string_view in, Result<T> (*decode)(std::string_view)) {
  Result<T> first = decode(in);
  CheckRejection(first);
  if (!first.ok()) return;
  const std::string again = Encode(first.value());
  if (again != in) Fail("accepted input re-encodes to different bytes");
  Result<T> second = decode(again);
  if (!second.ok() || !(second.value() == first.value())) Fail("re-encoding decodes differently");
}

// A seed input: the selector byte of the decoder, then the message.
inline std::string Seed(uint8_t target, std::string_view body) {
  return static_cast<char>(target) + std::string(body);
}

}  // namespace pccheck::fuzz
