// Every encoding in proto/, socket, ring and on-disk alike: a message with a
// value in every field encodes, decodes equal and re-encodes to the very
// same bytes, so the encoder and the decoder agree on every field.
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "catch.h"
#include "proto/manifest.h"
#include "proto/store_wire.h"
#include "proto/wire.h"

namespace pccheck {
namespace {

template <typename T>
void RequireSameBytes(const T& m, std::string (*encode)(const T&),
                      Result<T> (*decode)(std::string_view)) {
  const std::string bytes = encode(m);
  Result<T> back = decode(bytes);
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  CHECK(back.value() == m);
  CHECK(encode(back.value()) == bytes);
}

using RingBytes = std::array<uint8_t, wire::kRingMessageBytes>;

template <typename T>
void RequireSameRingBytes(const T& m, void (*encode)(const T&, uint8_t*),
                          Result<T> (*decode)(const uint8_t*)) {
  RingBytes bytes, again;
  bytes.fill(0xEE);
  again.fill(0x11);
  encode(m, bytes.data());
  Result<T> back = decode(bytes.data());
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  CHECK(back.value() == m);
  encode(back.value(), again.data());
  CHECK(again == bytes);
}

TEST_CASE("every encoding re-encodes to the bytes it was decoded from", "[proto]") {
  using namespace wire;
  constexpr uint64_t kBig = 0x0102030405060708;
  const std::string h(kIpcHandleBytes, '\x5a');

  SECTION("frame header") {
    RequireSameBytes(FrameHeader{12345, MsgType::kGpuSetup}, EncodeFrameHeader, DecodeFrameHeader);
    RequireSameBytes(FrameHeader{0, MsgType::kPruned}, EncodeFrameHeader, DecodeFrameHeader);
  }
  SECTION("socket messages") {
    RequireSameBytes(Hello{kProtocolVersion, "job", 7, 99}, Encode, DecodeHello);
    RequireSameBytes(Welcome{kProtocolVersion, kBig, 1 << 20, 64, 8, 4096, 3, 1 << 22, "0.1.0"},
                     Encode, DecodeWelcome);
    RequireSameBytes(ErrorReply{static_cast<uint32_t>(Code::kNotFound), "no such job"}, Encode,
                     DecodeErrorReply);
    RequireSameBytes(AllocArena{kBig}, Encode, DecodeAllocArena);
    RequireSameBytes(Arena{4, kBig}, Encode, DecodeArena);
    TensorSpec arena{"w", "float32", {2, 3}, 24, Location::kArena, 5, 0, "", 0, 4096};
    TensorSpec cuda{"b", "bf16", {8, 0}, 16, Location::kCudaIpc, 0, 2, h, 1024, 64};
    RequireSameBytes(Register{{arena, cuda}}, Encode, DecodeRegister);
    RequireSameBytes(Registered{6, kBig}, Encode, DecodeRegistered);
    RequireSameBytes(Restore{}, Encode, DecodeRestore);
    RequireSameBytes(Restore{kBig}, Encode, DecodeRestore);
    RequireSameBytes(Restored{kBig, "blob", 40, "memory", {"x", "y"}}, Encode, DecodeRestored);
    RequireSameBytes(ListReply{{{1, 2, -3, false}, {4, 5, 6, true}}}, Encode, DecodeListReply);
    RequireSameBytes(StatusReply{"{\"clients\":[]}"}, Encode, DecodeStatusReply);
    RequireSameBytes(GpuSetup{1, {h, h}, {3, 0}, 1 << 20}, Encode, DecodeGpuSetup);
    RequireSameBytes(GpuReady{{{h, h}, {h}}, h, 1 << 20}, Encode, DecodeGpuReady);
    RequireSameBytes(GpuReady{{{h}}, "", 0}, Encode, DecodeGpuReady);
  }
  SECTION("store messages") {
    RequireSameBytes(
        StoreListed{"/var/lib/pccheck",
                    {{"gpt2", 1, 1000, 2, kBig, -7, true, false, "committed"},
                     {"gpt2", 1, 500, 0, 4096, 1690000000, false, true, "damaged: no manifest"}}},
        Encode, DecodeStoreListed);
    RequireSameBytes(Verify{"llama", 3, kBig}, Encode, DecodeVerify);
    RequireSameBytes(VerifyProgress{kBig}, Encode, DecodeVerifyProgress);
    RequireSameBytes(Verified{static_cast<uint32_t>(Code::kCorruption), "checksum mismatch", kBig},
                     Encode, DecodeVerified);
    RequireSameBytes(Prune{2, std::nullopt, std::nullopt, false}, Encode, DecodePrune);
    RequireSameBytes(Prune{0, "job", 3, true}, Encode, DecodePrune);
    RequireSameBytes(Pruned{true, {{"job", 0, 10, kBig}, {"job", 1, 20, 0}}}, Encode, DecodePruned);
  }
  SECTION("ring messages") {
    RequireSameRingBytes(SaveMsg{kBig, 100, 2, 1, 77, 3}, EncodeSave, DecodeSave);
    RequireSameRingBytes(
        CompletionMsg{RingType::kFailed, kBig, 100, static_cast<uint32_t>(Code::kNoSpace), "full"},
        EncodeCompletion, DecodeCompletion);
    RequireSameRingBytes(CompletionMsg{RingType::kCoalesced, 1, 2, 0, ""}, EncodeCompletion,
                         DecodeCompletion);
  }
  SECTION("on-disk records") {
    Manifest m;
    m.job = "job";
    m.rank = 1;
    m.step = kBig;
    m.wall_time = std::numeric_limits<int64_t>::min();
    m.slot = 3;
    m.data_bytes = 9000;
    m.chunk_bytes = 4096;
    m.tensors = {{"a", "float32", {2, 3}, 0, 24}, {"b", "bfloat16", {4}, 4096, 4904}};
    m.chunk_crcs = {1, 2, 3};
    m.user_blob = std::string("pickled\0state", 13);
    RequireSameBytes(m, EncodeManifest, DecodeManifest);
    RequireSameBytes(LatestRecord{kBig, 2, 0xCAFEF00D}, EncodeLatest, DecodeLatest);
  }
}

}  // namespace
}  // namespace pccheck
