// FakeGpu: host memory stands in for device memory; copies are memcpy.
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "gpu/gpu.h"
#include "gpu/host_memory.h"

namespace pccheck {

Result<void*> AllocLockedHost(size_t bytes, bool* locked) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return Status::FromErrno(errno, "mmap of " + std::to_string(bytes) + " bytes for the pool");
  }
  *locked = mlock(p, bytes) == 0;
  return p;
}

void FreeLockedHost(void* ptr, size_t bytes) { munmap(ptr, bytes); }

namespace {

class FakeGpu final : public Gpu {
 public:
  explicit FakeGpu(int devices) : devices_(devices) {}

  std::string Describe() const override { return "fake (host memory)"; }
  int DeviceCount() const override { return devices_; }

  Result<void*> AllocHost(size_t bytes, bool* locked) override {
    return AllocLockedHost(bytes, locked);
  }
  void FreeHost(void* ptr, size_t bytes) override { FreeLockedHost(ptr, bytes); }

  Status CopyToHost(int device, void* dst, const void* src, size_t n) override {
    PCC_RETURN_IF_ERROR(CheckDevice(device));
    std::memcpy(dst, src, n);
    return Status::Ok();
  }
  Status CopyToDevice(int device, void* dst, const void* src, size_t n) override {
    PCC_RETURN_IF_ERROR(CheckDevice(device));
    std::memcpy(dst, src, n);
    return Status::Ok();
  }
  Result<Fence> Record(int device) override {
    PCC_RETURN_IF_ERROR(CheckDevice(device));
    return Fence{device, 0};
  }
  Status Wait(const Fence&) override { return Status::Ok(); }
  // Fake copies complete at once, so there is nothing to order.
  Status StreamWaitEvent(int device, void*) override { return CheckDevice(device); }
  Status RecordEvent(int device, void*) override { return CheckDevice(device); }
  Result<bool> EventDone(int device, void*) override {
    PCC_RETURN_IF_ERROR(CheckDevice(device));
    return true;
  }

  // Host memory cannot stand in for another process's device memory.
  Result<void*> OpenMemHandle(int, std::string_view, uint64_t*) override { return NoIpc(); }
  Status CloseMemHandle(int, void*) override { return NoIpc(); }
  Result<void*> AllocShared(int, uint64_t, std::string*) override { return NoIpc(); }
  Status FreeShared(int, void*) override { return NoIpc(); }
  Result<void*> CreateSharedEvent(int, std::string*) override { return NoIpc(); }
  Result<void*> OpenEventHandle(int, std::string_view) override { return NoIpc(); }
  Status DestroyEvent(int, void*) override { return NoIpc(); }

 private:
  static Status NoIpc() { return Status::Unavailable("no CUDA: the fake GPU has no CUDA IPC"); }
  Status CheckDevice(int device) const {
    if (device < 0 || device >= devices_) {
      return Status::InvalidArgument("no device " + std::to_string(device));
    }
    return Status::Ok();
  }
  const int devices_;
};

}  // namespace

std::unique_ptr<Gpu> NewFakeGpu(int device_count) {
  return std::make_unique<FakeGpu>(device_count);
}

}  // namespace pccheck
