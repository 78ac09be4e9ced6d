// Gpu: the only place pccheck calls CUDA.
//
// The engine copies checkpoint state between "device" memory and pinned host
// chunks only through this interface. FakeGpu (memcpy on host memory standing
// in for device memory) lets every pipeline test run without a GPU; CudaGpu
// (cuda_gpu.cc, built when the CUDA toolkit is found) is the real one.
//
// Thread-safety: all methods may be called from any thread. Copies issued for
// one device are ordered among themselves (one copy stream per device); a
// Fence covers every copy issued on that device before it was recorded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace pccheck {

inline constexpr int kHostDevice = -1;

struct Fence {
  int device = kHostDevice;
  uint64_t seq = 0;  // 0: nothing to wait for
};

class Gpu {
 public:
  virtual ~Gpu() = default;

  // Human-readable description for logs ("fake (host memory)", "2 x NVIDIA H100").
  virtual std::string Describe() const = 0;
  // Number of usable devices; 0 when there is no GPU or no driver.
  virtual int DeviceCount() const = 0;

  // Page-locked host memory for the chunk pool, aligned to 4 KiB. Where
  // locking is refused (RLIMIT_MEMLOCK, no driver) it returns plain memory and
  // sets *locked to false; the caller warns once. Freed with FreeHost.
  virtual Result<void*> AllocHost(size_t bytes, bool* locked) = 0;
  virtual void FreeHost(void* ptr, size_t bytes) = 0;

  // Enqueues a copy on `device`'s copy stream. Returns once it is queued; the
  // bytes are in place only after Wait on a later fence of the same device.
  virtual Status CopyToHost(int device, void* host_dst, const void* dev_src, size_t n) = 0;
  virtual Status CopyToDevice(int device, void* dev_dst, const void* host_src, size_t n) = 0;
  // Marks the point after every copy queued so far on `device`.
  virtual Result<Fence> Record(int device) = 0;
  // Blocks until every copy before the fence is done; reports a copy's failure.
  virtual Status Wait(const Fence& fence) = 0;

  // Cross-process ordering: `device`'s copy stream waits for `event`'s latest
  // record (made by another stream, possibly in another process), or records
  // `event` after everything queued on it so far. event is a cudaEvent_t.
  virtual Status StreamWaitEvent(int device, void* event) = 0;
  virtual Status RecordEvent(int device, void* event) = 0;
  // Whether `event`'s latest record has completed (cudaEventQuery), without
  // blocking. An event never recorded counts as completed.
  virtual Result<bool> EventDone(int device, void* event) = 0;

  // ---- CUDA IPC: memory and events shared with client processes ----------
  // CudaGpu only; FakeGpu returns Unavailable. Handles are the 64 bytes of a
  // cudaIpcMemHandle_t / cudaIpcEventHandle_t. Everything opened or created
  // here is given back with the matching call, once.

  // Maps the allocation another process exported (cudaIpcOpenMemHandle with
  // lazy peer access; slow: callers cache the mapping). *bytes receives the
  // allocation's true size, or 0 where the driver cannot tell. Opening a
  // handle that is open already returns the same mapping; it is unmapped at
  // its last CloseMemHandle.
  virtual Result<void*> OpenMemHandle(int device, std::string_view handle, uint64_t* bytes) = 0;
  virtual Status CloseMemHandle(int device, void* ptr) = 0;
  // Device memory this process owns and exports (the staging buffer): *handle
  // receives its cudaIpcMemHandle_t.
  virtual Result<void*> AllocShared(int device, uint64_t bytes, std::string* handle) = 0;
  virtual Status FreeShared(int device, void* ptr) = 0;
  // An interprocess event (cudaEventInterprocess | cudaEventDisableTiming)
  // and its handle for another process.
  virtual Result<void*> CreateSharedEvent(int device, std::string* handle) = 0;
  // An event another process created and exported.
  virtual Result<void*> OpenEventHandle(int device, std::string_view handle) = 0;
  virtual Status DestroyEvent(int device, void* event) = 0;
};

// Treats "device" pointers as host pointers; copies are memcpy and complete at once.
std::unique_ptr<Gpu> NewFakeGpu(int device_count = 1);
// The CUDA runtime when built with it and a device is usable; otherwise null
// and *why says what is missing.
std::unique_ptr<Gpu> NewCudaGpu(std::string* why);

}  // namespace pccheck
