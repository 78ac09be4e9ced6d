// GpuWrapper: a Gpu that passes every call to another one, as leveldb's
// EnvWrapper does. A test double derives from it and overrides only the
// calls it changes (a gated fence, a failing copy); the rest keep working
// when the seam grows a call.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "gpu/gpu.h"

namespace pccheck {

class GpuWrapper : public Gpu {
 public:
  explicit GpuWrapper(std::unique_ptr<Gpu> target) : target_(std::move(target)) {}
  Gpu* target() const { return target_.get(); }

  std::string Describe() const override { return target_->Describe(); }
  int DeviceCount() const override { return target_->DeviceCount(); }
  Result<void*> AllocHost(size_t bytes, bool* locked) override {
    return target_->AllocHost(bytes, locked);
  }
  void FreeHost(void* ptr, size_t bytes) override { target_->FreeHost(ptr, bytes); }
  Status CopyToHost(int device, void* host_dst, const void* dev_src, size_t n) override {
    return target_->CopyToHost(device, host_dst, dev_src, n);
  }
  Status CopyToDevice(int device, void* dev_dst, const void* host_src, size_t n) override {
    return target_->CopyToDevice(device, dev_dst, host_src, n);
  }
  Result<Fence> Record(int device) override { return target_->Record(device); }
  Status Wait(const Fence& fence) override { return target_->Wait(fence); }
  Status StreamWaitEvent(int device, void* event) override {
    return target_->StreamWaitEvent(device, event);
  }
  Status RecordEvent(int device, void* event) override {
    return target_->RecordEvent(device, event);
  }
  Result<bool> EventDone(int device, void* event) override {
    return target_->EventDone(device, event);
  }
  Result<void*> OpenMemHandle(int device, std::string_view handle, uint64_t* bytes) override {
    return target_->OpenMemHandle(device, handle, bytes);
  }
  Status CloseMemHandle(int device, void* ptr) override {
    return target_->CloseMemHandle(device, ptr);
  }
  Result<void*> AllocShared(int device, uint64_t bytes, std::string* handle) override {
    return target_->AllocShared(device, bytes, handle);
  }
  Status FreeShared(int device, void* ptr) override { return target_->FreeShared(device, ptr); }
  Result<void*> CreateSharedEvent(int device, std::string* handle) override {
    return target_->CreateSharedEvent(device, handle);
  }
  Result<void*> OpenEventHandle(int device, std::string_view handle) override {
    return target_->OpenEventHandle(device, handle);
  }
  Status DestroyEvent(int device, void* event) override {
    return target_->DestroyEvent(device, event);
  }

 private:
  std::unique_ptr<Gpu> target_;
};

}  // namespace pccheck
