#include "gpu/ipc_resources.h"

#include <spdlog/spdlog.h>

namespace pccheck {

Result<std::shared_ptr<DeviceMemory>> DeviceMemory::Import(Gpu* gpu, int device,
                                                           const std::string& handle,
                                                           uint64_t claimed_bytes) {
  uint64_t true_bytes = 0;
  PCC_ASSIGN_OR_RETURN(void* p, gpu->OpenMemHandle(device, handle, &true_bytes));
  if (true_bytes != 0 && claimed_bytes > true_bytes) {
    Status closed = gpu->CloseMemHandle(device, p);
    if (!closed.ok()) spdlog::warn("closing a refused CUDA IPC mapping: {}", closed.ToString());
    return Status::InvalidArgument("the allocation is said to hold " +
                                   std::to_string(claimed_bytes) + " bytes but its handle maps " +
                                   std::to_string(true_bytes));
  }
  const uint64_t bytes = true_bytes != 0 ? true_bytes : claimed_bytes;
  return std::shared_ptr<DeviceMemory>(
      new DeviceMemory(gpu, device, static_cast<uint8_t*>(p), bytes, handle, false));
}

Result<std::shared_ptr<DeviceMemory>> DeviceMemory::Allocate(Gpu* gpu, int device, uint64_t bytes) {
  std::string handle;
  PCC_ASSIGN_OR_RETURN(void* p, gpu->AllocShared(device, bytes, &handle));
  return std::shared_ptr<DeviceMemory>(
      new DeviceMemory(gpu, device, static_cast<uint8_t*>(p), bytes, std::move(handle), true));
}

DeviceMemory::~DeviceMemory() {
  Status s = owned_ ? gpu_->FreeShared(device_, data_) : gpu_->CloseMemHandle(device_, data_);
  if (!s.ok()) {
    spdlog::warn("{} device memory on device {}: {}", owned_ ? "freeing" : "closing the mapping of",
                 device_, s.ToString());
  }
}

Result<std::shared_ptr<SharedEvent>> SharedEvent::Create(Gpu* gpu, int device) {
  std::string handle;
  PCC_ASSIGN_OR_RETURN(void* ev, gpu->CreateSharedEvent(device, &handle));
  return std::shared_ptr<SharedEvent>(new SharedEvent(gpu, device, ev, std::move(handle)));
}

Result<std::shared_ptr<SharedEvent>> SharedEvent::Open(Gpu* gpu, int device,
                                                       const std::string& handle) {
  PCC_ASSIGN_OR_RETURN(void* ev, gpu->OpenEventHandle(device, handle));
  return std::shared_ptr<SharedEvent>(new SharedEvent(gpu, device, ev, handle));
}

SharedEvent::~SharedEvent() {
  Status s = gpu_->DestroyEvent(device_, event_);
  if (!s.ok()) spdlog::warn("destroying a CUDA IPC event on device {}: {}", device_, s.ToString());
}

}  // namespace pccheck
