// Where the daemon finds the trainer's GPU tensors (CUDA builds only).
//
// Direct mode: each tensor's allocation base, found with the driver's
// cuMemGetAddressRange, is exported with cudaIpcGetMemHandle once per base
// and registration; the spec carries the handle, the base's size and the
// tensor's offset in it. Memory that cannot be exported this way (PyTorch's
// expandable segments and cudaMallocAsync pools are made with the driver's
// virtual memory API) is refused with the cause and the fix.
//
// Staging mode: the tensors are packed in table order into the daemon's
// staging buffer, which the client maps (StagingBuffer) and fills
// device-to-device at each save; the specs point into that buffer.
#pragma once

#ifdef PCCHECK_HAVE_CUDA
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pccheck/status.h"
#include "proto/wire.h"

namespace pccheck::client {

struct GpuTensor {
  size_t index = 0;  // in the registered table
  std::string name;
  int device = 0;
  void* data = nullptr;
  uint64_t bytes = 0;  // > 0
};

// InvalidArgument unless t.data .. t.data + t.bytes is memory of CUDA device
// t.device (device memory, or managed memory when !exported).
Status CheckDeviceMemory(const GpuTensor& t, bool exported);

// Direct mode: the spec of each tensor, keyed by its index.
Result<std::map<size_t, wire::TensorSpec>> ExportBases(const std::vector<GpuTensor>& tensors);

// Staging mode: each tensor's offset in the staging buffer (table order,
// 256-byte aligned) and the buffer's size.
struct StagingLayout {
  std::vector<uint64_t> offsets;  // parallel to the tensors
  uint64_t bytes = 0;
};
StagingLayout PlanStaging(const std::vector<GpuTensor>& tensors);

// The daemon's staging buffer, mapped into this process.
class StagingBuffer {
 public:
  static Result<std::unique_ptr<StagingBuffer>> Open(int device, const std::string& handle,
                                                     uint64_t bytes);
  ~StagingBuffer();  // unmaps it
  StagingBuffer(const StagingBuffer&) = delete;
  StagingBuffer& operator=(const StagingBuffer&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t bytes() const { return bytes_; }
  int device() const { return device_; }
  const std::string& handle() const { return handle_; }

 private:
  StagingBuffer(int device, uint8_t* data, uint64_t bytes, std::string handle)
      : device_(device), data_(data), bytes_(bytes), handle_(std::move(handle)) {}
  const int device_;
  uint8_t* const data_;
  const uint64_t bytes_;
  const std::string handle_;
};

// Staging mode: the spec of each tensor, in `buffer` at its layout offset.
std::map<size_t, wire::TensorSpec> StagingSpecs(const std::vector<GpuTensor>& tensors,
                                                const StagingLayout& layout,
                                                const StagingBuffer& buffer);

}  // namespace pccheck::client
#endif
