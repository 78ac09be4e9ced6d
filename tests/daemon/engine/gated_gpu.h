// GatedGpu: a fake GPU of two devices whose fences on device 1 do not
// complete until Open() is called: holds back whatever waits for a copy of
// device-1 tensors (a writer, a checksum thread), for engine tests that need
// a copy still landing at a chosen moment.
#pragma once

#include <condition_variable>
#include <mutex>

#include "gpu/gpu_wrapper.h"

namespace pccheck::testing {

class GatedGpu final : public GpuWrapper {
 public:
  GatedGpu() : GpuWrapper(NewFakeGpu(2)) {}
  std::string Describe() const override { return "gated fake"; }
  int DeviceCount() const override { return 2; }
  Result<Fence> Record(int d) override { return Fence{d, 1}; }
  Status StreamWaitEvent(int, void*) override { return Status::Ok(); }
  Status RecordEvent(int, void*) override { return Status::Ok(); }
  Result<bool> EventDone(int, void*) override { return true; }
  Status Wait(const Fence& f) override {
    if (f.device != 1) return Status::Ok();
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return Status::Ok();
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void AwaitWaiter() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_ > 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

}  // namespace pccheck::testing
