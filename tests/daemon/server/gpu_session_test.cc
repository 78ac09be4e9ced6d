// A session's GPU path end to end on FakeIpcGpu: a real Server and Engine in
// this process, and a client speaking the protocol through libpccheck's
// client::Session (no CUDA needed). Checks what DESIGN.md's "Events are
// recorded, then waited on" asks of the daemon: the copies wait on the
// client's ready event of the save's slot, the done event is recorded after
// the last copy and only then is kCopiesQueued posted; bases are opened once
// per session and closed only after the saves using them ended.
#include <algorithm>
#include <chrono>
#include <thread>

#include "base/json_parse.h"
#include "catch.h"
#include "engine/engine.h"
#include "fake_ipc_gpu.h"
#include "io/file_system.h"
#include "server/server.h"
#include "session.h"  // client/src: the client's side of the protocol
#include "support/test_util.h"
#include "support/wait_until.h"

namespace pccheck::testing {
namespace {

using wire::MsgType;
using wire::RingType;

// pccheckd's server and engine in this process, on the fake GPU.
struct InProcessDaemon {
  TempDir dir;
  FakeIpcGpu gpu;
  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Server> server;
  std::thread thread;
  std::string socket = dir.path() + "/d.sock";

  InProcessDaemon() {
    EngineOptions eo;
    eo.root = dir.path() + "/root";
    eo.pool_bytes = 8 << 20;
    eo.chunk_bytes = 64 << 10;
    eo.writers = 2;
    eo.max_inflight = 2;
    eo.direct_io = false;
    auto e = Engine::Open(eo, fs.get(), &gpu);
    REQUIRE(e.ok());
    engine = std::move(e).value();
    ServerOptions so;
    so.socket = socket;
    so.gpu = &gpu;
    auto s = Server::Start(so, engine.get(), gpu.Describe());
    REQUIRE(s.ok());
    server = std::move(s).value();
    thread = std::thread([this] { server->Run(); });
  }
  ~InProcessDaemon() {
    server->Stop();
    thread.join();
    server.reset();
    engine->Shutdown();
  }
};

// The client side: a session, its GPU setup and tensor table.
struct FakeTrainer {
  FakeIpcGpu& gpu;
  std::unique_ptr<client::Session> session;
  std::vector<std::string> ready;  // the client's ready events, per slot
  uint32_t table_version = 0;
  uint64_t next_seq = 1;

  FakeTrainer(InProcessDaemon& d) : gpu(d.gpu) {
    auto s = client::Session::Open(d.socket, "job", 0);
    REQUIRE(s.ok());
    session = std::move(s).value();
  }

  Result<wire::GpuReady> Setup(uint64_t staging = 0) {
    wire::GpuSetup setup;
    const uint32_t slots = session->welcome().max_inflight + 1;
    ready.clear();
    for (uint32_t i = 0; i < slots; ++i) {
      ready.push_back(gpu.ClientEvent("ready" + std::to_string(i)));
    }
    setup.ready_events = ready;
    setup.devices = {0};
    setup.staging_bytes = staging;
    auto frame = session->Call(MsgType::kGpuSetup, wire::Encode(setup), MsgType::kGpuReady);
    if (!frame.ok()) return frame.status();
    return wire::DecodeGpuReady(frame->payload);
  }

  Status Register(const std::vector<wire::TensorSpec>& specs) {
    auto frame = session->Call(MsgType::kRegister, wire::Encode(wire::Register{specs}),
                               MsgType::kRegistered);
    if (!frame.ok()) return frame.status();
    auto reply = wire::DecodeRegistered(frame->payload);
    if (!reply.ok()) return reply.status();
    table_version = reply->table_version;
    return Status::Ok();
  }

  uint64_t Save(uint64_t step, uint32_t event_slot) {
    const uint64_t seq = next_seq++;
    auto pushed = session->PushSave({seq, step, table_version, 0, 0, event_slot});
    REQUIRE(pushed.ok());
    REQUIRE(*pushed);
    return seq;
  }

  // Collects completions until one of `type` for `seq` arrives (10 s at most).
  std::vector<wire::CompletionMsg> Until(RingType type, uint64_t seq) {
    std::vector<wire::CompletionMsg> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::none_of(got.begin(), got.end(),
                        [&](auto& m) { return m.type == type && m.seq == seq; })) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      REQUIRE(session->PopCompletions(&got).ok());
      REQUIRE(session->WaitForEvent(100).ok());
    }
    // The completion ring's atomics sit in shared memory that the daemon and
    // this trainer map at two addresses, which ThreadSanitizer cannot pair:
    // taking the fake GPU's lock, which every copy takes after it, orders the
    // daemon's copies before what the test does next (freeing their source).
    (void)gpu.Log();
    return got;
  }
};

wire::TensorSpec GpuTensor(const std::string& name, const std::string& handle, uint64_t base_bytes,
                           uint64_t offset, uint64_t bytes) {
  wire::TensorSpec t;
  t.name = name;
  t.dtype = "uint8";
  t.shape = {static_cast<int64_t>(bytes)};
  t.bytes = bytes;
  t.location = wire::Location::kCudaIpc;
  t.ipc_handle = handle;
  t.base_bytes = base_bytes;
  t.offset = offset;
  return t;
}

size_t Index(const std::vector<std::string>& log, const std::string& entry) {
  return std::find(log.begin(), log.end(), entry) - log.begin();
}

TEST_CASE("gpu session: copies wait on ready, done is recorded after them, then announced",
          "[server][gpu]") {
  InProcessDaemon daemon;
  FakeTrainer trainer(daemon);
  REQUIRE(trainer.ready.empty());
  auto ready = trainer.Setup();
  REQUIRE(ready.ok());
  REQUIRE(ready->done_events.size() == 1);
  REQUIRE(ready->done_events[0].size() == 3);  // max_inflight 2 + 1

  // Two tensors in one "cudaMalloc" at non-zero offsets, and an empty one.
  std::vector<uint8_t> alloc = RandomBytes(300 << 10, 7);
  const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
  REQUIRE(trainer
              .Register({GpuTensor("a", h, alloc.size(), 4096, 100 << 10),
                         GpuTensor("b", h, alloc.size(), 200 << 10, 100 << 10),
                         GpuTensor("empty", h, alloc.size(), 123, 0)})
              .ok());
  CHECK(daemon.gpu.opened() == 1);

  const uint64_t seq = trainer.Save(10, 2);
  auto got = trainer.Until(RingType::kCommitted, seq);
  auto at = [&](RingType t) {
    return std::find_if(got.begin(), got.end(), [&](auto& m) { return m.type == t; }) - got.begin();
  };
  REQUIRE(at(RingType::kCopiesQueued) < static_cast<long>(got.size()));
  CHECK(at(RingType::kCopiesQueued) < at(RingType::kCommitted));

  const auto log = daemon.gpu.Log();
  const size_t wait = Index(log, "wait ready2"), record = Index(log, "record done2");
  const size_t first_copy = Index(log, "copy");
  const size_t last_copy = log.rend() - std::find(log.rbegin(), log.rend(), "copy") - 1;
  INFO(log.size());
  REQUIRE(wait < log.size());
  REQUIRE(record < log.size());
  CHECK(wait < first_copy);
  CHECK(last_copy < record);
  CHECK(Index(log, "wait ready0") == log.size());  // only the save's own slot

  // The checkpoint holds the bytes at the registered offsets.
  std::vector<uint8_t> a(100 << 10), b(100 << 10);
  auto restored = daemon.engine->Restore(
      "job", 0, std::nullopt,
      {{"a", {kHostDevice, a.data(), a.size()}}, {"b", {kHostDevice, b.data(), b.size()}}});
  REQUIRE(restored.ok());
  CHECK(std::equal(a.begin(), a.end(), alloc.begin() + 4096));
  CHECK(std::equal(b.begin(), b.end(), alloc.begin() + (200 << 10)));

  // Registering again (storage "moved" inside the same allocation) reuses the base.
  REQUIRE(trainer.Register({GpuTensor("a", h, alloc.size(), 0, 100 << 10)}).ok());
  CHECK(daemon.gpu.opened() == 1);
  CHECK(daemon.gpu.closed() == 0);
}

TEST_CASE("gpu session: bad event slots and missing setups fail the save, not the session",
          "[server][gpu]") {
  InProcessDaemon daemon;
  FakeTrainer trainer(daemon);
  std::vector<uint8_t> alloc(8192);
  const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
  REQUIRE(trainer.Register({GpuTensor("a", h, alloc.size(), 0, 4096)}).ok());
  uint64_t seq = trainer.Save(1, 0);
  auto got = trainer.Until(RingType::kFailed, seq);
  CHECK(got.back().message.find("send kGpuSetup first") != std::string::npos);

  REQUIRE(trainer.Setup().ok());
  seq = trainer.Save(2, 3);
  got = trainer.Until(RingType::kFailed, seq);
  CHECK(got.back().message.find("event slot 3 is out of range") != std::string::npos);
  seq = trainer.Save(3, 1);
  trainer.Until(RingType::kCommitted, seq);
}

TEST_CASE("gpu session: a tensor outside its allocation is refused at registration",
          "[server][gpu]") {
  InProcessDaemon daemon;
  FakeTrainer trainer(daemon);
  std::vector<uint8_t> alloc(4096);
  // The handle maps 4096 bytes; the client claims 8192.
  const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
  Status s = trainer.Register({GpuTensor("big", h, 8192, 4096, 4096)});
  INFO(s.ToString());
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("tensor 'big'") != std::string::npos);
  CHECK(daemon.gpu.opened() == daemon.gpu.closed());
}

TEST_CASE("gpu session: staging mode registers tensors in the daemon's own buffer",
          "[server][gpu]") {
  InProcessDaemon daemon;
  FakeTrainer trainer(daemon);
  auto ready = trainer.Setup(64 << 10);
  REQUIRE(ready.ok());
  REQUIRE(ready->staging_bytes >= (64u << 10));
  REQUIRE(trainer.Register({GpuTensor("a", ready->staging_handle, ready->staging_bytes, 256, 1000)})
              .ok());
  CHECK(daemon.gpu.opened() == 0);
  trainer.Until(RingType::kCommitted, trainer.Save(5, 0));
}

TEST_CASE("gpu session: bases and events are given back once the session and its saves end",
          "[server][gpu]") {
  InProcessDaemon daemon;
  {
    FakeTrainer trainer(daemon);
    REQUIRE(trainer.Setup().ok());
    std::vector<uint8_t> alloc(1 << 20);
    const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
    REQUIRE(trainer.Register({GpuTensor("a", h, alloc.size(), 0, alloc.size())}).ok());
    trainer.Until(RingType::kCommitted, trainer.Save(1, 0));
    CHECK(daemon.gpu.closed() == 0);
    trainer.session->Goodbye();
  }
  // The session thread tears down after the goodbye: wait for it, bounded.
  REQUIRE(
      WaitUntil([&] { return daemon.gpu.closed() != 0 && daemon.gpu.live_daemon_events() == 0; },
                std::chrono::seconds(10), "the session closed its handles and events")
          .ToString() == "Ok");
  CHECK(daemon.gpu.opened() == 1);
  CHECK(daemon.gpu.closed() == 1);
}

TEST_CASE("gpu session: a trainer gone before its ready event fired is abandoned, not waited for",
          "[server][gpu]") {
  InProcessDaemon daemon;
  std::vector<uint8_t> alloc(1 << 20);
  const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
  {
    FakeTrainer trainer(daemon);
    REQUIRE(trainer.Setup().ok());
    REQUIRE(trainer.Register({GpuTensor("a", h, alloc.size(), 0, alloc.size())}).ok());
    daemon.gpu.HoldEvent("ready1");  // its record never runs: the trainer died first
    trainer.Save(1, 1);
    REQUIRE(WaitUntil(
                [&] { return Index(daemon.gpu.Log(), "query ready1") != daemon.gpu.Log().size(); },
                std::chrono::seconds(10), "the daemon queried ready1")
                .ToString() == "Ok");
  }  // the client goes away without a goodbye
  REQUIRE(WaitUntil(
              [&] {
                return daemon.engine->Stats().saves_failed +
                           daemon.engine->Stats().saves_superseded !=
                       0;
              },
              std::chrono::seconds(10), "the abandoned save failed or was superseded")
              .ToString() == "Ok");
  const auto log = daemon.gpu.Log();
  CHECK(Index(log, "copy") == log.size());         // nothing was copied from it
  CHECK(Index(log, "wait ready1") == log.size());  // no stream was left waiting
  daemon.gpu.Release();
  // The daemon goes on serving: another trainer's save commits.
  FakeTrainer next(daemon);
  REQUIRE(next.Setup().ok());
  REQUIRE(next.Register({GpuTensor("a", h, alloc.size(), 0, alloc.size())}).ok());
  next.Until(RingType::kCommitted, next.Save(2, 0));
  CHECK(daemon.engine->LatestStep("job", 0) == std::optional<uint64_t>(2));
}

TEST_CASE("gpu session: status names the session's GPU and a save waiting for its ready event",
          "[server][gpu]") {
  InProcessDaemon daemon;
  auto status = [&] {
    auto doc = ParseJson(daemon.server->StatusJson());
    REQUIRE(doc.ok());
    return std::move(doc).value();
  };
  std::vector<uint8_t> alloc(1 << 20);
  const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
  FakeTrainer trainer(daemon);
  REQUIRE(trainer.Setup().ok());  // answered by the session: it is listed now
  auto before = status();
  REQUIRE(before["sessions"].items().size() == 1);
  CHECK(before["sessions"].items()[0]["device"].AsString() == "");

  REQUIRE(trainer.Register({GpuTensor("a", h, alloc.size(), 0, alloc.size())}).ok());
  daemon.gpu.HoldEvent("ready1");  // the trainer's state is not final yet
  const uint64_t seq = trainer.Save(7, 1);
  REQUIRE(
      WaitUntil([&] { return Index(daemon.gpu.Log(), "query ready1") != daemon.gpu.Log().size(); },
                std::chrono::seconds(10), "the daemon queried ready1")
          .ToString() == "Ok");
  auto during = status();
  REQUIRE(during["sessions"].items().size() == 1);
  const auto& session = during["sessions"].items()[0];
  CHECK(session["device"].AsString() == "0");
  REQUIRE(session["devices"].items().size() == 1);
  CHECK(session["devices"].items()[0].AsInt() == 0);
  REQUIRE(during["inflight"].items().size() == 1);
  const auto& save = during["inflight"].items()[0];
  CHECK(save["step"].AsUint() == 7);
  CHECK(save["stage"].AsString() == "copying");
  CHECK(save["bytes_copied"].AsUint() == 0);
  CHECK(save["bytes_total"].AsUint() == alloc.size());

  daemon.gpu.Release();
  trainer.Until(RingType::kCommitted, seq);
  auto after = status();
  CHECK(after["inflight"].items().empty());
  CHECK(after["saves_committed"].AsUint() == 1);
}

}  // namespace
}  // namespace pccheck::testing
