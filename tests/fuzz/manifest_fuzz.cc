// Fuzz target for the on-disk records: DecodeManifest and DecodeLatest must
// reject any input with a Corruption status or accept it, never crash, and what
// they accept must re-encode to the very same bytes and decode equal again.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/crc32c.h"
#include "proto/manifest.h"

namespace {

using pccheck::Code;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "manifest_fuzz: %s\n", what);
  std::abort();
}

template <typename Decode, typename Encode>
void RoundTrip(std::string_view in, Decode decode, Encode encode) {
  auto first = decode(in);
  if (!first.ok()) {
    if (first.status().code() != Code::kCorruption) Fail("decode failed without Corruption");
    return;
  }
  std::string again = encode(first.value());
  if (again != in) Fail("accepted input re-encodes to different bytes");
  auto second = decode(again);
  if (!second.ok() || !(second.value() == first.value())) Fail("re-encoding decodes differently");
}

void CheckBoth(std::string_view in) {
  RoundTrip(in, pccheck::DecodeManifest, pccheck::EncodeManifest);
  RoundTrip(in, pccheck::DecodeLatest, pccheck::EncodeLatest);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  CheckBoth(in);
  // Mutated input almost never carries a valid CRC32C trailer; trying it again
  // with the trailer rewritten lets mutations reach the field parser.
  if (size >= 4) {
    uint32_t crc = pccheck::Crc32c(in.data(), size - 4);
    for (int i = 0; i < 4; ++i) in[size - 4 + i] = static_cast<char>(crc >> (8 * i));
    CheckBoth(in);
  }
  return 0;
}

// Valid encodings for fuzz_driver.cc to mutate; libFuzzer builds ignore it.
std::vector<std::string> FuzzSeeds() {
  using pccheck::Manifest;
  Manifest empty;
  Manifest full;
  full.job = "job";
  full.rank = 1;
  full.step = 42;
  full.wall_time = 1700000000;
  full.slot = 3;
  full.data_bytes = 9000;
  full.chunk_bytes = 4096;
  full.tensors = {
      {"a", "float32", {2, 3}, 0, 24}, {"z", "u8", {}, 24, 0}, {"b", "bfloat16", {4}, 4096, 4904}};
  full.chunk_crcs = {1, 2, 3};
  full.user_blob = "blob";
  return {pccheck::EncodeManifest(empty), pccheck::EncodeManifest(full), pccheck::EncodeLatest({}),
          pccheck::EncodeLatest({7, 1, 0xDEADBEEF})};
}
