// Fuzz target for every IPC decoder in proto/wire.h. The first input byte
// picks the decoder; the rest is the message. Each decoder must reject with a
// Corruption status or accept, never crash or allocate from an unbounded
// length; whatever it accepts must re-encode to the very same bytes (the
// encodings are canonical) and decode equal again. Ring messages are fixed
// size: the input is zero padded or cut to kRingMessageBytes first.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "proto/wire.h"
#include "round_trip.h"

const char pccheck::fuzz::kTargetName[] = "wire_fuzz";

namespace {

using namespace pccheck::wire;
using pccheck::Result;
using pccheck::fuzz::CheckRejection;
using pccheck::fuzz::Fail;
using pccheck::fuzz::RoundTrip;
using pccheck::fuzz::Seed;

void FrameHeaderRoundTrip(std::string_view in) {
  Result<FrameHeader> first = DecodeFrameHeader(in);
  CheckRejection(first);
  if (!first.ok()) return;
  const std::string again = EncodeFrameHeader(first.value());
  if (again != in) Fail("accepted frame header re-encodes to different bytes");
  if (!(DecodeFrameHeader(again).value() == first.value()))
    Fail("frame header decodes differently");
}

using RingBytes = std::array<uint8_t, kRingMessageBytes>;

template <typename T>
void RingRoundTrip(std::string_view in, Result<T> (*decode)(const uint8_t*),
                   void (*encode)(const T&, uint8_t*)) {
  RingBytes slot{};
  std::memcpy(slot.data(), in.data(), std::min(in.size(), slot.size()));
  Result<T> first = decode(slot.data());
  CheckRejection(first);
  if (!first.ok()) return;
  RingBytes again;
  again.fill(0xEE);
  encode(first.value(), again.data());
  if (again != slot) Fail("accepted ring message re-encodes to different bytes");
  Result<T> second = decode(again.data());
  if (!second.ok() || !(second.value() == first.value())) Fail("ring message decodes differently");
}

// The decoders, in the order of the selector byte (modulo their count).
enum Target : uint8_t {
  kFrameHeaderT,
  kHelloT,
  kWelcomeT,
  kErrorReplyT,
  kAllocArenaT,
  kArenaT,
  kRegisterT,
  kRegisteredT,
  kRestoreT,
  kRestoredT,
  kListReplyT,
  kStatusReplyT,
  kSaveT,
  kCompletionT,
  kGpuSetupT,
  kGpuReadyT,
  kTargetCount
};

std::string RingSeed(Target t, const RingBytes& b) {
  return Seed(t, std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (static_cast<Target>(data[0] % kTargetCount)) {
    case kFrameHeaderT:
      FrameHeaderRoundTrip(in);
      break;
    case kHelloT:
      RoundTrip(in, DecodeHello);
      break;
    case kWelcomeT:
      RoundTrip(in, DecodeWelcome);
      break;
    case kErrorReplyT:
      RoundTrip(in, DecodeErrorReply);
      break;
    case kAllocArenaT:
      RoundTrip(in, DecodeAllocArena);
      break;
    case kArenaT:
      RoundTrip(in, DecodeArena);
      break;
    case kRegisterT:
      RoundTrip(in, DecodeRegister);
      break;
    case kRegisteredT:
      RoundTrip(in, DecodeRegistered);
      break;
    case kRestoreT:
      RoundTrip(in, DecodeRestore);
      break;
    case kRestoredT:
      RoundTrip(in, DecodeRestored);
      break;
    case kListReplyT:
      RoundTrip(in, DecodeListReply);
      break;
    case kStatusReplyT:
      RoundTrip(in, DecodeStatusReply);
      break;
    case kSaveT:
      RingRoundTrip<SaveMsg>(in, DecodeSave, EncodeSave);
      break;
    case kCompletionT:
      RingRoundTrip<CompletionMsg>(in, DecodeCompletion, EncodeCompletion);
      break;
    case kGpuSetupT:
      RoundTrip(in, DecodeGpuSetup);
      break;
    case kGpuReadyT:
      RoundTrip(in, DecodeGpuReady);
      break;
    case kTargetCount:
      break;
  }
  return 0;
}

// Valid encodings for fuzz_driver.cc to mutate, one or more per decoder;
// libFuzzer builds ignore it.
std::vector<std::string> FuzzSeeds() {
  TensorSpec arena{"w", "float32", {2, 3}, 24, Location::kArena, 1, 0, "", 0, 4096};
  TensorSpec cuda{"b", "bf16", {8}, 16, Location::kCudaIpc, 0, 1, std::string(64, 'h'), 1024, 64};
  RingBytes save, failed, done, queued;
  EncodeSave({1, 100, 2, 0, 77, 1}, save.data());
  EncodeCompletion({RingType::kFailed, 1, 100, 3, "disk full"}, failed.data());
  EncodeCompletion({RingType::kSnapshotDone, 2, 200, 0, ""}, done.data());
  EncodeCompletion({RingType::kCopiesQueued, 3, 300, 0, ""}, queued.data());
  const std::string h(64, 'e');
  return {
      Seed(kFrameHeaderT, EncodeFrameHeader({12, MsgType::kRegister})),
      Seed(kHelloT, Encode(Hello{kProtocolVersion, "job", 3, 1234})),
      Seed(kWelcomeT,
           Encode(Welcome{kProtocolVersion, 9, 1 << 20, 64, 4, 4096, 2, 1 << 22, "0.1"})),
      Seed(kErrorReplyT, Encode(ErrorReply{5, "bad"})),
      Seed(kAllocArenaT, Encode(AllocArena{1 << 30})),
      Seed(kArenaT, Encode(Arena{2, 1 << 30})),
      Seed(kRegisterT, Encode(Register{{arena, cuda}})),
      Seed(kRegisteredT, Encode(Registered{3, 40})),
      Seed(kRestoreT, Encode(Restore{})),
      Seed(kRestoreT, Encode(Restore{42})),
      Seed(kRestoredT, Encode(Restored{42, "blob", 40, "disk", {"x", "y"}})),
      Seed(kListReplyT, Encode(ListReply{{{1, 2, 3, false}, {4, 5, 6, true}}})),
      Seed(kStatusReplyT, Encode(StatusReply{"{\"clients\":[]}"})),
      RingSeed(kSaveT, save),
      RingSeed(kCompletionT, failed),
      RingSeed(kCompletionT, done),
      RingSeed(kCompletionT, queued),
      Seed(kGpuSetupT, Encode(GpuSetup{0, {h, h, h}, {0}, 0})),
      Seed(kGpuSetupT, Encode(GpuSetup{1, {h, h}, {1, 0}, 1 << 20})),
      Seed(kGpuReadyT, Encode(GpuReady{{{h, h, h}}, "", 0})),
      Seed(kGpuReadyT, Encode(GpuReady{{{h, h}, {h, h}}, h, 1 << 20})),
  };
}
