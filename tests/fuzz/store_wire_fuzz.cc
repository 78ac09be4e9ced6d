// Fuzz target for the store-request decoders in proto/store_wire.h. The first
// input byte picks the decoder; the rest is the message. Each decoder must
// reject with a Corruption status or accept, never crash or allocate from an
// unbounded length; whatever it accepts must re-encode to the very same bytes
// and decode equal again.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/store_wire.h"
#include "round_trip.h"

const char pccheck::fuzz::kTargetName[] = "store_wire_fuzz";

namespace {

using namespace pccheck::wire;
using pccheck::fuzz::RoundTrip;
using pccheck::fuzz::Seed;

enum Target : uint8_t {
  kStoreListedT,
  kVerifyT,
  kVerifyProgressT,
  kVerifiedT,
  kPruneT,
  kPrunedT,
  kTargetCount
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (static_cast<Target>(data[0] % kTargetCount)) {
    case kStoreListedT:
      RoundTrip(in, DecodeStoreListed);
      break;
    case kVerifyT:
      RoundTrip(in, DecodeVerify);
      break;
    case kVerifyProgressT:
      RoundTrip(in, DecodeVerifyProgress);
      break;
    case kVerifiedT:
      RoundTrip(in, DecodeVerified);
      break;
    case kPruneT:
      RoundTrip(in, DecodePrune);
      break;
    case kPrunedT:
      RoundTrip(in, DecodePruned);
      break;
    case kTargetCount:
      break;
  }
  return 0;
}

// Valid encodings for fuzz_driver.cc to mutate; libFuzzer builds ignore it.
std::vector<std::string> FuzzSeeds() {
  return {
      Seed(kStoreListedT, Encode(StoreListed{"/s", {}})),
      Seed(kStoreListedT,
           Encode(StoreListed{"/var/lib/pccheck",
                              {{"gpt2", 0, 1000, 2, 1 << 30, 1700000000, true, false, "committed"},
                               {"gpt2", 0, 500, 0, 4096, 1690000000, false, true, "committed"},
                               {"", 1, 0, 1, 0, -1, false, false, "damaged: no manifest"}}})),
      Seed(kVerifyT, Encode(Verify{"job", 2, 40})),
      Seed(kVerifyProgressT, Encode(VerifyProgress{1 << 20})),
      Seed(kVerifiedT, Encode(Verified{0, "", 1 << 20})),
      Seed(kVerifiedT, Encode(Verified{7, "superseded while verifying", 4096})),
      Seed(kPruneT, Encode(Prune{2, std::nullopt, std::nullopt, false})),
      Seed(kPruneT, Encode(Prune{0, "job", 3, true})),
      Seed(kPrunedT, Encode(Pruned{true, {{"job", 0, 10, 4096}, {"job", 1, 20, 0}}})),
  };
}
