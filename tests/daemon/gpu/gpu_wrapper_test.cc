// GpuWrapper forwards every call it does not override to its target.
#include "gpu/gpu_wrapper.h"

#include <cstring>
#include <vector>

#include "catch.h"

namespace pccheck {
namespace {

class Renamed final : public GpuWrapper {
 public:
  Renamed() : GpuWrapper(NewFakeGpu(2)) {}
  std::string Describe() const override { return "renamed"; }
};

TEST_CASE("GpuWrapper: one call overridden, the others reach the target", "[gpu]") {
  Renamed gpu;
  CHECK(gpu.Describe() == "renamed");
  CHECK(gpu.DeviceCount() == 2);
  bool locked = false;
  auto host = gpu.AllocHost(4096, &locked);
  REQUIRE(host.ok());
  std::vector<uint8_t> device(4096, 0x5a);
  REQUIRE(gpu.CopyToHost(1, *host, device.data(), device.size()).ok());
  auto fence = gpu.Record(1);
  REQUIRE(fence.ok());
  REQUIRE(gpu.Wait(*fence).ok());
  CHECK(std::memcmp(*host, device.data(), device.size()) == 0);
  gpu.FreeHost(*host, 4096);
  std::string handle;
  CHECK_FALSE(gpu.AllocShared(0, 4096, &handle).ok());  // the fake GPU has no IPC
}

}  // namespace
}  // namespace pccheck
