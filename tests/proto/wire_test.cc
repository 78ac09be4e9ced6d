// IPC messages (proto/wire.h): round trips, truncation, hostile lengths and
// values, and the fixed-size ring messages.
#include "proto/wire.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "catch.h"
#include "support/test_util.h"
#include "wire_testing.h"

namespace pccheck::wire {
namespace {

TensorSpec ArenaTensor() {
  TensorSpec t;
  t.name = "layer.0.weight";
  t.dtype = "float32";
  t.shape = {1024, 768};
  t.bytes = 1024 * 768 * 4;
  t.location = Location::kArena;
  t.arena_id = 3;
  t.offset = 4096;
  return t;
}

TensorSpec CudaTensor() {
  TensorSpec t;
  t.name = "layer.0.bias";
  t.dtype = "bfloat16";
  t.shape = {768};
  t.bytes = 1536;
  t.location = Location::kCudaIpc;
  t.device = 7;
  t.ipc_handle = std::string(64, '\xab');
  t.base_bytes = 2 << 20;
  t.offset = 512;
  return t;
}

GpuSetup Setup() {
  return GpuSetup{
      1, {std::string(64, 'r'), std::string(64, 's'), std::string(64, 't')}, {1, 0}, 1 << 30};
}

GpuReady Ready() {
  return GpuReady{{{std::string(64, 'a'), std::string(64, 'b')}, {std::string(64, 'c')}},
                  std::string(64, 'm'),
                  2 << 20};
}

// One sample of every socket message.
std::vector<Sample> Samples() {
  Hello hello{kProtocolVersion, "llama-7b", 3, 4242};
  Welcome welcome{kProtocolVersion, kMax64, 1 << 20, 64, 4, 1 << 16, 2, 64 << 20, "pccheckd 0.1.0"};
  Register reg{{ArenaTensor(), CudaTensor(), TensorSpec{}}};
  Restored restored{1200, std::string("pickled\0state", 13), 1 << 30, "memory", {"a", "", "b"}};
  ListReply list{{{10, 100, -5, false}, {20, 200, 1700000000, true}}};
  return {
      {"Hello", Encode(hello), DecodesEqual<Hello, DecodeHello>},
      {"Welcome", Encode(welcome), DecodesEqual<Welcome, DecodeWelcome>},
      {"ErrorReply", Encode(ErrorReply{8, "no such job"}),
       DecodesEqual<ErrorReply, DecodeErrorReply>},
      {"AllocArena", Encode(AllocArena{kMax64}), DecodesEqual<AllocArena, DecodeAllocArena>},
      {"Arena", Encode(Arena{9, 1 << 30}), DecodesEqual<Arena, DecodeArena>},
      {"Register", Encode(reg), DecodesEqual<Register, DecodeRegister>},
      {"Registered", Encode(Registered{5, 123456}), DecodesEqual<Registered, DecodeRegistered>},
      {"Restore(latest)", Encode(Restore{}), DecodesEqual<Restore, DecodeRestore>},
      {"Restore(step)", Encode(Restore{77}), DecodesEqual<Restore, DecodeRestore>},
      {"Restored", Encode(restored), DecodesEqual<Restored, DecodeRestored>},
      {"ListReply", Encode(list), DecodesEqual<ListReply, DecodeListReply>},
      {"StatusReply", Encode(StatusReply{"{\"ok\":true}"}),
       DecodesEqual<StatusReply, DecodeStatusReply>},
      {"GpuSetup", Encode(Setup()), DecodesEqual<GpuSetup, DecodeGpuSetup>},
      {"GpuReady", Encode(Ready()), DecodesEqual<GpuReady, DecodeGpuReady>},
  };
}

TEST_CASE("wire: every socket message round trips", "[proto]") {
  RequireRoundTrip(Hello{kProtocolVersion, "job", 1, 2}, DecodeHello);
  RequireRoundTrip(Hello{kProtocolVersion, std::string(kMaxNameBytes, '\0'), ~0u, ~0u},
                   DecodeHello);
  RequireRoundTrip(Welcome{}, DecodeWelcome);
  RequireRoundTrip(Welcome{kProtocolVersion, 1, 2, 3, 4, 5, 6, 7, "v"}, DecodeWelcome);
  RequireRoundTrip(ErrorReply{static_cast<uint32_t>(Code::kInternal), "boom"}, DecodeErrorReply);
  RequireRoundTrip(ErrorReply{static_cast<uint32_t>(Code::kTimeout), "timed out"},
                   DecodeErrorReply);
  RequireRoundTrip(ErrorReply{1, std::string(kMaxStringBytes, 'x')}, DecodeErrorReply);
  RequireRoundTrip(AllocArena{}, DecodeAllocArena);
  RequireRoundTrip(Arena{~0u, kMax64}, DecodeArena);
  RequireRoundTrip(Register{}, DecodeRegister);
  Register reg{{ArenaTensor(), CudaTensor()}};
  reg.tensors[0].shape.assign(kMaxDims, std::numeric_limits<int64_t>::max());
  reg.tensors[0].dtype = std::string(kMaxDtypeBytes, 'd');
  reg.tensors[1].offset = reg.tensors[1].base_bytes - reg.tensors[1].bytes;  // ends at the edge
  RequireRoundTrip(reg, DecodeRegister);
  TensorSpec at_end = ArenaTensor();
  at_end.offset = kMax64 - at_end.bytes;  // offset + bytes == 2^64 - 1: no overflow
  RequireRoundTrip(Register{{at_end}}, DecodeRegister);
  RequireRoundTrip(Registered{~0u, kMax64}, DecodeRegistered);
  RequireRoundTrip(Restore{}, DecodeRestore);
  RequireRoundTrip(Restore{0}, DecodeRestore);
  RequireRoundTrip(Restore{kMax64}, DecodeRestore);
  RequireRoundTrip(Restored{1, "", 0, "disk", {}}, DecodeRestored);
  RequireRoundTrip(ListReply{}, DecodeListReply);
  RequireRoundTrip(ListReply{{{1, 2, std::numeric_limits<int64_t>::min(), false}}},
                   DecodeListReply);
  RequireRoundTrip(StatusReply{}, DecodeStatusReply);
  RequireRoundTrip(StatusReply{std::string(1 << 20, '{')}, DecodeStatusReply);
  RequireRoundTrip(Setup(), DecodeGpuSetup);
  RequireRoundTrip(GpuSetup{0,
                            std::vector<std::string>(kMaxEventSlots, std::string(64, 'x')),
                            {kMaxGpuDevices - 1},
                            0},
                   DecodeGpuSetup);
  RequireRoundTrip(Ready(), DecodeGpuReady);
  RequireRoundTrip(GpuReady{}, DecodeGpuReady);
}

TEST_CASE("wire: GPU setup and reply refuse what makes no sense", "[proto]") {
  auto setup_fails = [](const GpuSetup& m, const std::string& what) {
    Status s = DecodeGpuSetup(Encode(m)).status();
    INFO(s.ToString());
    CHECK(Mentions(s, "GpuSetup: " + what));
  };
  GpuSetup m = Setup();
  m.ready_events.clear();
  setup_fails(m, "no ready events");
  m = Setup();
  m.ready_events.assign(kMaxEventSlots + 1, std::string(64, 'x'));
  setup_fails(m, "ready event count 66 exceeds the limit of 65");
  m = Setup();
  m.ready_events[1].resize(63);
  setup_fails(m, "event handle of 63 bytes (expected 64)");
  m = Setup();
  m.ready_events[2].resize(65);
  setup_fails(m, "event handle of 65 bytes exceeds");
  m = Setup();
  m.devices.clear();
  setup_fails(m, "no devices");
  m = Setup();
  m.devices = {3, 1, 3};
  setup_fails(m, "device 3 is listed twice");
  m = Setup();
  m.devices.assign(kMaxGpuDevices + 1, 0);
  setup_fails(m, "device count 65 exceeds");

  auto ready_fails = [](const GpuReady& m, const std::string& what) {
    Status s = DecodeGpuReady(Encode(m)).status();
    INFO(s.ToString());
    CHECK(Mentions(s, "GpuReady: " + what));
  };
  GpuReady r = Ready();
  r.staging_handle.clear();
  ready_fails(r, "staging handle and staging_bytes 2097152 disagree");
  r = Ready();
  r.staging_bytes = 0;
  ready_fails(r, "staging handle and staging_bytes 0 disagree");
  r = Ready();
  r.staging_handle.resize(10);
  ready_fails(r, "staging handle of 10 bytes (expected 64)");
  r = Ready();
  r.done_events[1][0].resize(1);
  ready_fails(r, "event handle of 1 bytes (expected 64)");
  // A huge count with nothing behind it is refused before anything is reserved.
  std::string bytes = Encode(GpuReady{});
  Put(bytes, 0, kMaxGpuDevices, 4);
  CHECK(Mentions(DecodeGpuReady(bytes).status(), "device count 64 does not fit"));
}

TEST_CASE("wire: every truncation and extension is detected", "[proto]") {
  RequireEveryTruncationAndExtensionFails(Samples());
}

TEST_CASE("wire: decoders name the message and the field", "[proto]") {
  Status s = DecodeHello(Encode(Hello{}).substr(0, 6)).status();
  CHECK(Mentions(s, "Hello: truncated at job"));
  s = DecodeArena(Encode(Arena{}) + "xy").status();
  CHECK(Mentions(s, "Arena: 2 unexpected trailing bytes"));
}

TEST_CASE("wire: crafted huge counts and lengths are rejected without allocating", "[proto]") {
  auto expect = [](Status s, const std::string& what) {
    INFO(s.ToString());
    CHECK(Mentions(s, what));
  };
  // Register: u32 count, then per tensor u32 name length at +0, dtype length after the name.
  std::string reg = Encode(Register{{TensorSpec{}}});
  std::string bad = reg;
  Put(bad, 0, 0xFFFFFFFF, 4);
  expect(DecodeRegister(bad).status(), "tensor count 4294967295 exceeds the limit");
  Put(bad, 0, kMaxTensors, 4);
  expect(DecodeRegister(bad).status(), "does not fit in the record");
  bad = reg;
  Put(bad, 4, 0xFFFFFFFF, 4);
  expect(DecodeRegister(bad).status(), "tensor name of 4294967295 bytes exceeds");
  bad = reg;
  Put(bad, 8, kMaxDtypeBytes + 1, 4);
  expect(DecodeRegister(bad).status(), "tensor dtype of 33 bytes exceeds");
  bad = reg;
  Put(bad, 12, 0xFFFFFFFF, 4);
  expect(DecodeRegister(bad).status(), "tensor dim count 4294967295 exceeds");
  bad = reg;
  Put(bad, 12, kMaxDims, 4);
  expect(DecodeRegister(bad).status(), "does not fit");
  bad = reg;
  Put(bad, 36, 65, 4);  // the IPC handle's length, after the fixed fields
  expect(DecodeRegister(bad).status(), "tensor IPC handle of 65 bytes exceeds");

  Restored restored{1, "blob", 2, "disk", {"x"}};
  std::string res = Encode(restored);
  bad = res;
  Put(bad, 8, kMaxUserBlobBytes + 1, 4);
  expect(DecodeRestored(bad).status(), "user blob of 268435457 bytes exceeds");
  bad = res;
  Put(bad, 8, kMaxUserBlobBytes, 4);
  expect(DecodeRestored(bad).status(), "user blob runs past the end");
  bad = res;
  Put(bad, 8 + 4 + 4 + 8 + 4 + 4, 0xFFFFFFFF, 4);
  expect(DecodeRestored(bad).status(), "skipped count 4294967295 exceeds");

  std::string list = Encode(ListReply{});
  Put(list, 0, 1u << 20, 4);
  expect(DecodeListReply(list).status(), "entry count 1048576 does not fit");

  std::string status = Encode(StatusReply{"{}"});
  Put(status, 0, kMaxJsonBytes + 1, 4);
  expect(DecodeStatusReply(status).status(), "json of 16777217 bytes exceeds");
  std::string error = Encode(ErrorReply{1, "x"});
  Put(error, 4, kMaxStringBytes + 1, 4);
  expect(DecodeErrorReply(error).status(), "message of 65537 bytes exceeds");
  std::string hello = Encode(Hello{});
  Put(hello, 4, kMaxNameBytes + 1, 4);
  expect(DecodeHello(hello).status(), "job of 4097 bytes exceeds");
}

TEST_CASE("wire: values that make no sense are rejected", "[proto]") {
  auto reject = [](const Register& m, const std::string& what) {
    Status s = DecodeRegister(Encode(m)).status();
    INFO(s.ToString());
    CHECK(Mentions(s, what));
  };
  TensorSpec t = ArenaTensor();
  t.shape = {4, -1};
  reject({{t}}, "tensor 0 ('layer.0.weight') has a negative dim -1");
  t = ArenaTensor();
  t.offset = kMax64 - t.bytes + 1;
  reject({{ArenaTensor(), t}},
         "tensor 1 ('layer.0.weight'): offset 18446744073706405888 + 3145728 bytes overflows");
  t = ArenaTensor();
  t.ipc_handle = std::string(64, 'h');
  reject({{t}}, "an arena tensor carries a CUDA IPC handle");
  t = CudaTensor();
  t.ipc_handle.clear();
  reject({{t}}, "CUDA IPC handle of 0 bytes (expected 64)");
  t = CudaTensor();
  t.ipc_handle.resize(63);
  reject({{t}}, "CUDA IPC handle of 63 bytes (expected 64)");
  t = CudaTensor();
  t.offset = t.base_bytes - t.bytes + 1;
  reject({{t}}, "past its allocation of 2097152 bytes");
  std::string bytes = Encode(Register{{ArenaTensor()}});
  Put(bytes, 4 + 4 + 14 + 4 + 7 + 4 + 16 + 8, 3, 4);  // location
  CHECK(Mentions(DecodeRegister(bytes).status(), "has unknown location 3"));

  CHECK(
      Mentions(DecodeErrorReply(Encode(ErrorReply{0, "ok?"})).status(), "code 0 is not a failure"));
  // One past the last code (kTimeout, 11) is unknown.
  CHECK(
      Mentions(DecodeErrorReply(Encode(ErrorReply{12, ""})).status(), "code 12 is not a failure"));
  CHECK(Mentions(DecodeRestored(Encode(Restored{1, "", 0, "tape", {}})).status(),
                 "source 'tape' is neither"));
  CHECK(Mentions(DecodeListReply(Encode(ListReply{{{1, 1, 1, true}, {2, 2, 2, true}}})).status(),
                 "2 entries are marked latest"));
  std::string restore = Encode(Restore{5});
  restore[0] = 2;
  CHECK(Mentions(DecodeRestore(restore).status(), "has_step flag is 2, not 0 or 1"));
  std::string list = Encode(ListReply{{{1, 1, 1, false}}});
  list.back() = 7;
  CHECK(Mentions(DecodeListReply(list).status(), "entry latest flag is 7"));
}

TEST_CASE("wire: another protocol version is refused by name", "[proto]") {
  Hello hello;
  hello.version = 2;
  Status s = DecodeHello(Encode(hello)).status();
  INFO(s.ToString());
  CHECK(Mentions(s, "Hello: protocol version 2 is not supported (this build speaks 1"));
  Welcome welcome;
  welcome.version = 0;
  CHECK(Mentions(DecodeWelcome(Encode(welcome)).status(), "Welcome: protocol version 0"));
}

TEST_CASE("wire: frame headers", "[proto]") {
  for (uint16_t t = 1; t <= static_cast<uint16_t>(MsgType::kGpuReady); ++t) {
    FrameHeader h{kMaxFrameBytes, static_cast<MsgType>(t)};
    std::string b = EncodeFrameHeader(h);
    REQUIRE(b.size() == kFrameHeaderBytes);
    Result<FrameHeader> back = DecodeFrameHeader(b);
    REQUIRE(back.ok());
    REQUIRE(back.value() == h);
  }
  const std::string good = EncodeFrameHeader({10, MsgType::kRegister});
  auto reject = [&](size_t at, uint64_t v, int width, const std::string& what) {
    std::string bad = good;
    Put(bad, at, v, width);
    Status s = DecodeFrameHeader(bad).status();
    INFO(s.ToString());
    CHECK(Mentions(s, "frame header: " + what));
  };
  reject(4, 0, 2, "unknown type 0");
  reject(4, 18, 2, "unknown type 18");
  reject(6, 1, 2, "reserved field is 1");
  reject(0, kMaxFrameBytes + 1, 4, "length 67108865 exceeds");
  CHECK(Mentions(DecodeFrameHeader(good.substr(0, 7)).status(), "7 bytes, expected 8"));
  CHECK(Mentions(DecodeFrameHeader(good + "x").status(), "9 bytes, expected 8"));
}

// ---- ring messages ------------------------------------------------------------

using RingBytes = std::array<uint8_t, kRingMessageBytes>;

RingBytes EncodedSave(const SaveMsg& m) {
  RingBytes b;
  b.fill(0xEE);  // the encoder must overwrite every byte
  EncodeSave(m, b.data());
  return b;
}

RingBytes EncodedCompletion(const CompletionMsg& m) {
  RingBytes b;
  b.fill(0xEE);
  EncodeCompletion(m, b.data());
  return b;
}

TEST_CASE("ring messages round trip", "[proto]") {
  for (const SaveMsg& m : {SaveMsg{}, SaveMsg{kMax64, kMax64, ~0u, ~0u, kMaxUserBlobBytes, ~0u},
                           SaveMsg{1, 2, 3, 4, 5, 6}}) {
    RingBytes b = EncodedSave(m);
    Result<SaveMsg> back = DecodeSave(b.data());
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    REQUIRE(back.value() == m);
    REQUIRE(EncodedSave(back.value()) == b);
  }
  for (const CompletionMsg& m :
       {CompletionMsg{RingType::kSnapshotDone, 1, 2, 0, ""},
        CompletionMsg{RingType::kCopiesQueued, 5, 6, 0, ""},
        CompletionMsg{RingType::kCoalesced, 7, 8, 0, ""},
        CompletionMsg{RingType::kCommitted, kMax64, kMax64, 0, "done"},
        CompletionMsg{RingType::kFailed, 3, 4, static_cast<uint32_t>(Code::kNoSpace),
                      std::string(kMaxCompletionMessageBytes, 'm')}}) {
    RingBytes b = EncodedCompletion(m);
    Result<CompletionMsg> back = DecodeCompletion(b.data());
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    REQUIRE(back.value() == m);
    REQUIRE(EncodedCompletion(back.value()) == b);
  }
}

TEST_CASE("ring messages: a long completion message is cut between characters", "[proto]") {
  CompletionMsg m{RingType::kFailed, 1, 2, static_cast<uint32_t>(Code::kIoError),
                  std::string(1000, 'x')};
  RingBytes b = EncodedCompletion(m);
  Result<CompletionMsg> back = DecodeCompletion(b.data());
  REQUIRE(back.ok());
  CHECK(back->message == std::string(kMaxCompletionMessageBytes, 'x'));
  // "é" is two bytes; one would straddle the limit, so it goes entirely.
  m.message = std::string(kMaxCompletionMessageBytes - 1, 'x') + "\xc3\xa9" + "tail";
  b = EncodedCompletion(m);
  back = DecodeCompletion(b.data());
  REQUIRE(back.ok());
  CHECK(back->message == std::string(kMaxCompletionMessageBytes - 1, 'x'));
}

TEST_CASE("ring messages: magic, version, type and fields are checked", "[proto]") {
  const RingBytes save = EncodedSave(SaveMsg{1, 2, 3, 4, 5, 6});
  const RingBytes done = EncodedCompletion({RingType::kCommitted, 1, 2, 0, "ok"});
  auto save_fails = [](RingBytes b, size_t at, uint64_t v, int width, const std::string& what) {
    for (int i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
    Status s = DecodeSave(b.data()).status();
    INFO(s.ToString());
    CHECK(Mentions(s, "SaveMsg: " + what));
  };
  auto completion_fails = [](RingBytes b, size_t at, uint64_t v, int width,
                             const std::string& what) {
    for (int i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
    Status s = DecodeCompletion(b.data()).status();
    INFO(s.ToString());
    CHECK(Mentions(s, "CompletionMsg: " + what));
  };
  save_fails(save, 0, 'X', 1, "bad magic");
  save_fails(save, 4, 2, 2, "protocol version 2");
  save_fails(save, 6, 2, 2, "type 2 is not a save request");
  save_fails(save, 6, 0, 2, "type 0 is not a save request");
  save_fails(save, 32, kMaxUserBlobBytes + 1, 8, "blob_bytes 268435457 exceeds");
  save_fails(save, 44, 1, 1, "non-zero padding");
  save_fails(save, kRingMessageBytes - 1, 1, 1, "non-zero padding");
  completion_fails(done, 3, 0, 1, "bad magic");
  completion_fails(done, 4, 0, 2, "protocol version 0");
  completion_fails(done, 6, 1, 2, "type 1 is not a completion");
  completion_fails(done, 6, 7, 2, "type 7 is not a completion");
  completion_fails(done, 24, 3, 4, "code 3 does not fit type 3");
  completion_fails(done, 28, kMaxCompletionMessageBytes + 1, 4, "message of 217 bytes exceeds");
  completion_fails(done, 32, 1, 1, "reserved bytes are not zero");
  completion_fails(done, 42, 1, 1, "non-zero padding");
  RingBytes failed = EncodedCompletion({RingType::kFailed, 1, 2, 1, "x"});
  completion_fails(failed, 24, 0, 4, "code 0 does not fit type 4");
  completion_fails(failed, 24, 12, 4, "code 12 does not fit type 4");
}

TEST_CASE("ring messages: no single-byte change goes unnoticed", "[proto]") {
  // Encodings are canonical, so a changed byte is either rejected or decodes
  // to a different message: never silently to the same one.
  const SaveMsg save{1, 2, 3, 4, 5, 6};
  const CompletionMsg done{RingType::kFailed, 7, 8, 3, "disk full"};
  const RingBytes save_bytes = EncodedSave(save), done_bytes = EncodedCompletion(done);
  for (size_t i = 0; i < kRingMessageBytes; ++i) {
    for (int x : {0x01, 0x80, 0xFF}) {
      CAPTURE(i, x);
      RingBytes b = save_bytes;
      b[i] ^= static_cast<uint8_t>(x);
      Result<SaveMsg> s = DecodeSave(b.data());
      REQUIRE((!s.ok() || !(s.value() == save)));
      b = done_bytes;
      b[i] ^= static_cast<uint8_t>(x);
      Result<CompletionMsg> c = DecodeCompletion(b.data());
      REQUIRE((!c.ok() || !(c.value() == done)));
    }
  }
}

}  // namespace
}  // namespace pccheck::wire
