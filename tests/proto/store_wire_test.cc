// The store requests (proto/store_wire.h): round trips, every truncation and
// extension, hostile counts and lengths, and values that make no sense.
#include "proto/store_wire.h"

#include <cstdint>
#include <string>
#include <vector>

#include "catch.h"
#include "wire_testing.h"

namespace pccheck::wire {
namespace {

// A ring slot, a kept checkpoint and a damaged slot, as a daemon lists them.
StoreListed Listing() {
  return {"/var/lib/pccheck",
          {{"gpt2", 0, 1000, 2, 1 << 30, 1700000000, true, false, "committed"},
           {"gpt2", 0, 500, 0, 1 << 30, 1690000000, false, true, "committed"},
           {"", 3, 0, 1, 0, -1, false, false, "damaged: manifest unreadable"}}};
}

std::vector<Sample> Samples() {
  Pruned pruned{true, {{"gpt2", 3, 1000, 1 << 30}, {"", 0, 0, 0}}};
  return {
      {"StoreListed", Encode(Listing()), DecodesEqual<StoreListed, DecodeStoreListed>},
      {"StoreListed(empty)", Encode(StoreListed{"/x", {}}),
       DecodesEqual<StoreListed, DecodeStoreListed>},
      {"Verify", Encode(Verify{"llama", 7, 4000}), DecodesEqual<Verify, DecodeVerify>},
      {"VerifyProgress", Encode(VerifyProgress{123456}),
       DecodesEqual<VerifyProgress, DecodeVerifyProgress>},
      {"Verified", Encode(Verified{5, "checksum mismatch", 4096}),
       DecodesEqual<Verified, DecodeVerified>},
      {"Prune(all)", Encode(Prune{3, std::nullopt, std::nullopt, false}),
       DecodesEqual<Prune, DecodePrune>},
      {"Prune(job, rank)", Encode(Prune{0, "gpt2", 5, true}), DecodesEqual<Prune, DecodePrune>},
      {"Pruned", Encode(pruned), DecodesEqual<Pruned, DecodePruned>},
  };
}

TEST_CASE("store wire: every message round trips", "[proto]") {
  RequireRoundTrip(StoreListed{}, DecodeStoreListed);
  RequireRoundTrip(Listing(), DecodeStoreListed);
  RequireRoundTrip(StoreListed{std::string(kMaxStringBytes, 'r'),
                               {{std::string(kMaxNameBytes, 'j'), ~0u, kMax64, ~0u, kMax64,
                                 INT64_MIN, true, true, std::string(kMaxStringBytes, 's')}}},
                   DecodeStoreListed);
  RequireRoundTrip(Verify{}, DecodeVerify);
  RequireRoundTrip(Verify{std::string(kMaxNameBytes, 'j'), ~0u, kMax64}, DecodeVerify);
  RequireRoundTrip(VerifyProgress{kMax64}, DecodeVerifyProgress);
  RequireRoundTrip(Verified{}, DecodeVerified);
  RequireRoundTrip(
      Verified{static_cast<uint32_t>(Code::kInternal), std::string(kMaxStringBytes, 'm'), kMax64},
      DecodeVerified);
  RequireRoundTrip(Prune{}, DecodePrune);
  RequireRoundTrip(Prune{~0u, std::string(), 0, true}, DecodePrune);
  RequireRoundTrip(Prune{1, std::string(kMaxNameBytes, 'x'), std::nullopt, false}, DecodePrune);
  RequireRoundTrip(Pruned{}, DecodePruned);
  RequireRoundTrip(Pruned{false, {{"a", ~0u, kMax64, kMax64}}}, DecodePruned);
}

TEST_CASE("store wire: every truncation and extension is detected", "[proto]") {
  RequireEveryTruncationAndExtensionFails(Samples());
}

TEST_CASE("store wire: hostile lengths and counts are rejected before allocating", "[proto]") {
  std::string verify = Encode(Verify{"j", 0, 0});
  verify[0] = '\xff';
  verify[1] = '\xff';
  CHECK(Mentions(DecodeVerify(verify).status(), "Verify: job of 65535 bytes exceeds"));

  std::string listed = Encode(StoreListed{"/x", {}});
  listed[3] = '\x7f';  // ~2 GiB
  CHECK(Mentions(DecodeStoreListed(listed).status(), "StoreListed: root of"));
  listed = Encode(Listing());
  Put(listed, 4 + 16, 0xFFFFFFFF, 4);  // the checkpoint count, after the root
  CHECK(Mentions(DecodeStoreListed(listed).status(),
                 "checkpoint count 4294967295 exceeds the limit"));
  listed = Encode(StoreListed{"/x", {{"j", 0, 1, 0, 2, 3, false, false, "committed"}}});
  listed[4 + 2] = 2;  // two checkpoints, bytes for one
  CHECK(Mentions(DecodeStoreListed(listed).status(), "checkpoint count 2 does not fit"));
  listed = Encode(StoreListed{"/x", {{"j", 0, 1, 0, 2, 3, false, false, "committed"}}});
  Put(listed, 4 + 2 + 4, 0xFFFF, 4);  // the job's length
  CHECK(Mentions(DecodeStoreListed(listed).status(), "checkpoint job of 65535 bytes exceeds"));

  std::string pruned = Encode(Pruned{false, {{"a", 1, 2, 3}}});
  Put(pruned, 1, 0xFFFFFFFF, 4);  // the entry count
  CHECK(Mentions(DecodePruned(pruned).status(), "entry count 4294967295 exceeds the limit"));
  pruned = Encode(Pruned{false, {{"a", 1, 2, 3}}});
  pruned[1] = 2;  // two entries, bytes for one
  CHECK(Mentions(DecodePruned(pruned).status(), "entry count 2 does not fit"));
}

TEST_CASE("store wire: values that make no sense are rejected", "[proto]") {
  CHECK(Mentions(DecodeVerified(Encode(Verified{12, "", 0})).status(),
                 "Verified: code 12 is not a status code"));
  std::string prune = Encode(Prune{1, std::nullopt, std::nullopt, false});
  prune[4] = 2;
  CHECK(Mentions(DecodePrune(prune).status(), "Prune: job flag is 2, not 0 or 1"));
  prune = Encode(Prune{1, std::nullopt, std::nullopt, false});
  prune.back() = 9;
  CHECK(Mentions(DecodePrune(prune).status(), "dry_run is 9"));
  std::string listed = Encode(StoreListed{"/x", {{"j", 0, 1, 0, 2, 3, false, false, "s"}}});
  // root (4 + 2), count 4, job (4 + 1), rank 4, step 8, slot 4, bytes 8,
  // wall_time 8: then latest.
  const size_t latest = 6 + 4 + 5 + 4 + 8 + 4 + 8 + 8;
  listed[latest] = 2;
  CHECK(Mentions(DecodeStoreListed(listed).status(), "StoreListed: checkpoint latest is 2"));
  listed[latest] = 0;
  listed[latest + 1] = 7;
  CHECK(Mentions(DecodeStoreListed(listed).status(), "StoreListed: checkpoint kept is 7"));
  std::string pruned = Encode(Pruned{});
  pruned[0] = 3;
  CHECK(Mentions(DecodePruned(pruned).status(), "Pruned: dry_run is 3"));
}

TEST_CASE("store wire: the requests are frame types the header accepts", "[proto]") {
  for (MsgType t :
       {MsgType::kStoreList, MsgType::kStoreListed, MsgType::kVerify, MsgType::kVerifyProgress,
        MsgType::kVerified, MsgType::kPrune, MsgType::kPruned}) {
    FrameHeader h{16, t};
    auto back = DecodeFrameHeader(EncodeFrameHeader(h));
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    CHECK(back.value() == h);
  }
  for (uint16_t unknown : {uint16_t{31}, uint16_t{39}}) {
    std::string b = EncodeFrameHeader({16, MsgType::kVerify});
    b[4] = static_cast<char>(unknown);
    CHECK(Mentions(DecodeFrameHeader(b).status(), "unknown type " + std::to_string(unknown)));
  }
}

}  // namespace
}  // namespace pccheck::wire
