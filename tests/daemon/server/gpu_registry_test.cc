// GpuRegistry (daemon/server/gpu_registry.h) on FakeIpcGpu: each allocation
// base opened once while anything holds it, every tensor bounded by the
// allocation's true extent, the events and the staging buffer of a setup.
#include "server/gpu_registry.h"

#include <vector>

#include "catch.h"
#include "fake_ipc_gpu.h"

namespace pccheck::testing {
namespace {

bool Mentions(const Status& s, Code code, const std::string& what) {
  return s.code() == code && s.message().find(what) != std::string::npos;
}

wire::TensorSpec Spec(const std::string& handle, uint64_t base_bytes, uint64_t offset,
                      uint64_t bytes, uint32_t device = 0) {
  wire::TensorSpec t;
  t.name = "w";
  t.dtype = "float32";
  t.bytes = bytes;
  t.location = wire::Location::kCudaIpc;
  t.device = device;
  t.ipc_handle = handle;
  t.base_bytes = base_bytes;
  t.offset = offset;
  return t;
}

wire::GpuSetup Setup(FakeIpcGpu& gpu, uint32_t slots, uint64_t staging = 0) {
  wire::GpuSetup s;
  for (uint32_t i = 0; i < slots; ++i) s.ready_events.push_back(gpu.ClientEvent("ready"));
  s.devices = {0};
  s.staging_bytes = staging;
  return s;
}

TEST_CASE("gpu registry: a base is opened once while anything holds it", "[server][gpu]") {
  FakeIpcGpu gpu;
  GpuRegistry registry(&gpu, 3);
  std::vector<uint8_t> alloc(4096);
  const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
  auto a = registry.Resolve(Spec(h, 4096, 0, 100));
  auto b = registry.Resolve(Spec(h, 4096, 1024, 3072));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a.value() == b.value());
  CHECK(a.value()->data() == alloc.data());
  CHECK(gpu.opened() == 1);
  CHECK(registry.open_bases() == 1);
  // A save in flight keeps it open after the registry lets go.
  auto held = a.value();
  a = Status::Aborted("dropped");
  b = Status::Aborted("dropped");
  registry.Clear();
  CHECK(gpu.closed() == 0);
  held.reset();
  CHECK(gpu.closed() == 1);
  // Asked again once closed, it is opened again.
  REQUIRE(registry.Resolve(Spec(h, 4096, 0, 1)).ok());
  CHECK(gpu.opened() == 2);
  CHECK(gpu.closed() == 2);  // that last one was dropped at once, too
}

TEST_CASE("gpu registry: every tensor lies inside its allocation's true extent", "[server][gpu]") {
  FakeIpcGpu gpu;
  GpuRegistry registry(&gpu, 3);
  std::vector<uint8_t> alloc(4096);
  const std::string h = FakeIpcGpu::MemHandle(alloc.data(), alloc.size());
  // The client claims a bigger allocation than the handle maps.
  Status s = registry.Resolve(Spec(h, 8192, 4096, 100)).status();
  INFO(s.ToString());
  CHECK(Mentions(s, Code::kInvalidArgument, "said to hold 8192 bytes but its handle maps 4096"));
  CHECK(gpu.closed() == gpu.opened());
  s = registry.Resolve(Spec(h, 4096, 4000, 97)).status();
  CHECK(Mentions(s, Code::kInvalidArgument, "do not lie inside its allocation of 4096 bytes"));
  CHECK(registry.Resolve(Spec(h, 4096, 4000, 96)).ok());
  CHECK(Mentions(registry.Resolve(Spec(h, 4096, 0, 1, 1)).status(), Code::kInvalidArgument,
                 "CUDA device 1 is not visible to pccheckd"));
}

TEST_CASE("gpu registry: a setup opens the ready events and makes the done events",
          "[server][gpu]") {
  FakeIpcGpu gpu(2);
  GpuRegistry registry(&gpu, 3);
  CHECK(registry.events() == nullptr);
  wire::GpuSetup setup = Setup(gpu, 3);
  setup.devices = {1, 0};
  auto reply = registry.Setup(setup);
  REQUIRE(reply.ok());
  REQUIRE(reply->done_events.size() == 2);
  CHECK(reply->done_events[0].size() == 3);
  CHECK(reply->done_events[1].size() == 3);
  CHECK(reply->staging_handle.empty());
  auto events = registry.events();
  REQUIRE(events != nullptr);
  CHECK(events->slots() == 3);
  CHECK(events->done.at(1).size() == 3);
  CHECK(gpu.live_daemon_events() == 3 + 6);

  SECTION("a wrong slot count or device changes nothing") {
    Status s = registry.Setup(Setup(gpu, 2)).status();
    CHECK(Mentions(s, Code::kInvalidArgument, "sent 2 ready events; this session has 3 slots"));
    wire::GpuSetup bad = Setup(gpu, 3);
    bad.devices = {2};
    CHECK(Mentions(registry.Setup(bad).status(), Code::kInvalidArgument, "CUDA device 2"));
    CHECK(registry.events() == events);
  }
  SECTION("events live while a save holds them") {
    events.reset();
    auto held = registry.events();
    registry.Clear();
    CHECK(gpu.live_daemon_events() == 9);
    held.reset();
    CHECK(gpu.live_daemon_events() == 0);
  }
}

TEST_CASE("gpu registry: staging buffer, resolved as the session's own memory", "[server][gpu]") {
  FakeIpcGpu gpu;
  GpuRegistry registry(&gpu, 2);
  auto reply = registry.Setup(Setup(gpu, 2, 1000));
  REQUIRE(reply.ok());
  REQUIRE(reply->staging_bytes == 1000);
  auto mem = registry.Resolve(Spec(reply->staging_handle, 1000, 512, 488));
  REQUIRE(mem.ok());
  CHECK(mem.value()->owned());
  CHECK(gpu.opened() == 0);  // never opened through IPC: it is ours
  // A setup that fits keeps the buffer; a bigger one replaces it once unused.
  auto again = registry.Setup(Setup(gpu, 2, 900));
  REQUIRE(again.ok());
  CHECK(again->staging_handle == reply->staging_handle);
  auto bigger = registry.Setup(Setup(gpu, 2, 2000));
  REQUIRE(bigger.ok());
  CHECK(bigger->staging_handle != reply->staging_handle);
  CHECK(gpu.freed() == 0);  // the old table still holds the old buffer
  mem = Status::Aborted("dropped");
  CHECK(gpu.freed() == 1);
  registry.Clear();
  CHECK(gpu.freed() == 2);
}

TEST_CASE("gpu registry: a daemon without a GPU says so", "[server][gpu]") {
  auto none = NewFakeGpu(0);
  GpuRegistry registry(none.get(), 3);
  FakeIpcGpu client;
  CHECK(Mentions(registry.Setup(Setup(client, 3)).status(), Code::kUnavailable,
                 "pccheckd has no usable GPU"));
  CHECK(Mentions(registry.Resolve(Spec(std::string(64, 'x'), 10, 0, 1)).status(),
                 Code::kUnavailable, "no usable GPU"));
  GpuRegistry null_gpu(nullptr, 3);
  CHECK(null_gpu.Available().code() == Code::kUnavailable);
}

}  // namespace
}  // namespace pccheck::testing
