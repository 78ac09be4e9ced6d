// CudaGpu: the Gpu seam on the CUDA runtime. One non-blocking copy stream per
// device; fences are CUDA events recorded on it. Without the CUDA toolkit at
// build time NewCudaGpu says so and returns null.
#include "gpu/gpu.h"

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cuda_api/cuda_check.h"
#include "cuda_api/cuda_driver.h"
#include "gpu/host_memory.h"
#endif

namespace pccheck {

#ifdef PCCHECK_HAVE_CUDA
namespace {

struct DeviceLane {
  cudaStream_t stream = nullptr;
  std::mutex mu;
  uint64_t next_seq = 1;
  uint64_t done_seq = 0;  // every fence <= done_seq has completed
  std::map<uint64_t, cudaEvent_t> events;
  std::vector<cudaEvent_t> spare;
  cudaEvent_t bridge = nullptr;  // re-recorded for each cross-device wait (StreamWaitEvent)
};

class CudaGpu final : public Gpu {
 public:
  static std::unique_ptr<Gpu> Create(std::string* why) {
    int n = 0;
    Status s = PCC_CUDA(cudaGetDeviceCount(&n));
    if (!s.ok() || n == 0) {
      *why = s.ok() ? "no CUDA device" : s.message();
      return nullptr;
    }
    auto gpu = std::unique_ptr<CudaGpu>(new CudaGpu(n));
    for (int d = 0; d < n; ++d) {
      s = PCC_CUDA(cudaSetDevice(d));
      if (s.ok())
        s = PCC_CUDA(cudaStreamCreateWithFlags(&gpu->lanes_[d].stream, cudaStreamNonBlocking));
      if (!s.ok()) {
        *why = s.message();
        return nullptr;
      }
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) gpu->name_ = prop.name;
    return gpu;
  }

  ~CudaGpu() override {
    for (int d = 0; d < static_cast<int>(lanes_.size()); ++d) {
      cudaSetDevice(d);
      auto& lane = lanes_[d];
      for (auto& [seq, ev] : lane.events) cudaEventDestroy(ev);
      for (auto ev : lane.spare) cudaEventDestroy(ev);
      if (lane.bridge) cudaEventDestroy(lane.bridge);
      if (lane.stream) cudaStreamDestroy(lane.stream);
    }
  }

  std::string Describe() const override {
    return std::to_string(lanes_.size()) + " x " + name_ + " (CUDA)";
  }
  int DeviceCount() const override { return static_cast<int>(lanes_.size()); }

  Result<void*> AllocHost(size_t bytes, bool* locked) override {
    void* p = nullptr;
    Status s = PCC_CUDA(cudaHostAlloc(&p, bytes, cudaHostAllocPortable));
    if (s.ok()) {
      *locked = true;
      std::lock_guard lock(pinned_mu_);
      pinned_.insert(p);
      return p;
    }
    return AllocLockedHost(bytes, locked);
  }
  void FreeHost(void* ptr, size_t bytes) override {
    bool pinned;
    {
      std::lock_guard lock(pinned_mu_);
      pinned = pinned_.erase(ptr) > 0;
    }
    if (pinned) {
      cudaFreeHost(ptr);
    } else {
      FreeLockedHost(ptr, bytes);
    }
  }

  Status CopyToHost(int device, void* dst, const void* src, size_t n) override {
    PCC_ASSIGN_OR_RETURN(DeviceLane * lane, Lane(device));
    return PCC_CUDA(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, lane->stream));
  }
  Status CopyToDevice(int device, void* dst, const void* src, size_t n) override {
    PCC_ASSIGN_OR_RETURN(DeviceLane * lane, Lane(device));
    return PCC_CUDA(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, lane->stream));
  }

  Result<Fence> Record(int device) override {
    PCC_ASSIGN_OR_RETURN(DeviceLane * lane, Lane(device));
    std::lock_guard lock(lane->mu);
    cudaEvent_t ev;
    if (!lane->spare.empty()) {
      ev = lane->spare.back();
      lane->spare.pop_back();
    } else {
      PCC_CUDA_RETURN(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    }
    Status s = PCC_CUDA(cudaEventRecord(ev, lane->stream));
    if (!s.ok()) {
      lane->spare.push_back(ev);
      return s;
    }
    uint64_t seq = lane->next_seq++;
    lane->events.emplace(seq, ev);
    return Fence{device, seq};
  }

  // An interprocess event (made here for a client, or opened from a client's
  // handle) belongs to the device it was made or opened on: a stream of another device that
  // waits on it directly crashes inside the driver (seen on two H100s). So
  // that device's stream waits on it and records a local event, which the
  // other device's stream waits on instead: an ordinary event may be waited
  // on from any device.
  Status StreamWaitEvent(int device, void* event) override {
    auto* ev = static_cast<cudaEvent_t>(event);
    const int owner = OwnerOf(event).value_or(device);
    PCC_ASSIGN_OR_RETURN(DeviceLane * src, Lane(owner));
    PCC_CUDA_RETURN(cudaStreamWaitEvent(src->stream, ev, 0));
    if (owner == device) return Status::Ok();
    cudaEvent_t bridge;
    {
      std::lock_guard lock(src->mu);
      if (src->bridge == nullptr) {
        PCC_CUDA_RETURN(cudaEventCreateWithFlags(&src->bridge, cudaEventDisableTiming));
      }
      bridge = src->bridge;
    }
    // A wait uses the record made before it, so one bridge event serves every
    // wait: the copy thread makes them one after another.
    PCC_CUDA_RETURN(cudaEventRecord(bridge, src->stream));
    PCC_ASSIGN_OR_RETURN(DeviceLane * dst, Lane(device));
    return PCC_CUDA(cudaStreamWaitEvent(dst->stream, bridge, 0));
  }
  Status RecordEvent(int device, void* event) override {
    PCC_ASSIGN_OR_RETURN(DeviceLane * lane, Lane(device));
    return PCC_CUDA(cudaEventRecord(static_cast<cudaEvent_t>(event), lane->stream));
  }
  Result<bool> EventDone(int device, void* event) override {
    PCC_RETURN_IF_ERROR(Lane(OwnerOf(event).value_or(device)).status());
    cudaError_t err = cudaEventQuery(static_cast<cudaEvent_t>(event));
    if (err == cudaErrorNotReady) return false;
    PCC_CUDA_RETURN(err);
    return true;
  }

  // One mapping per handle for the whole daemon, counted: two sessions of
  // one trainer (a reconnect while old saves still run) may name the same
  // allocation, and a handle must not be opened twice in one process.
  Result<void*> OpenMemHandle(int device, std::string_view handle, uint64_t* bytes) override {
    cudaIpcMemHandle_t h;
    PCC_RETURN_IF_ERROR(FromBytes(handle, &h, "memory"));
    PCC_RETURN_IF_ERROR(Lane(device).status());
    std::lock_guard lock(ipc_mu_);
    auto key = std::make_pair(device, std::string(handle));
    if (auto it = imported_.find(key); it != imported_.end()) {
      ++it->second.refs;
      *bytes = it->second.bytes;
      return it->second.ptr;
    }
    void* p = nullptr;
    PCC_CUDA_RETURN(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess));
    *bytes = 0;
    auto range = CudaAllocationRange(p);
    if (range.ok() && range->base == reinterpret_cast<uintptr_t>(p)) *bytes = range->bytes;
    imported_[key] = Imported{p, *bytes, 1};
    return p;
  }
  Status CloseMemHandle(int device, void* ptr) override {
    PCC_RETURN_IF_ERROR(Lane(device).status());
    std::lock_guard lock(ipc_mu_);
    for (auto it = imported_.begin(); it != imported_.end(); ++it) {
      if (it->first.first != device || it->second.ptr != ptr) continue;
      if (--it->second.refs > 0) return Status::Ok();
      imported_.erase(it);
      return PCC_CUDA(cudaIpcCloseMemHandle(ptr));
    }
    return Status::InvalidArgument("CloseMemHandle: no open CUDA IPC mapping at that address");
  }

  Result<void*> AllocShared(int device, uint64_t bytes, std::string* handle) override {
    PCC_RETURN_IF_ERROR(Lane(device).status());
    void* p = nullptr;
    PCC_CUDA_RETURN(cudaMalloc(&p, bytes));
    cudaIpcMemHandle_t h;
    Status s = PCC_CUDA(cudaIpcGetMemHandle(&h, p));
    if (!s.ok()) {
      cudaFree(p);
      return s;
    }
    handle->assign(reinterpret_cast<const char*>(&h), sizeof h);
    return p;
  }
  Status FreeShared(int device, void* ptr) override {
    PCC_RETURN_IF_ERROR(Lane(device).status());
    return PCC_CUDA(cudaFree(ptr));
  }

  Result<void*> CreateSharedEvent(int device, std::string* handle) override {
    PCC_RETURN_IF_ERROR(Lane(device).status());
    cudaEvent_t ev;
    PCC_CUDA_RETURN(cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming));
    cudaIpcEventHandle_t h;
    Status s = PCC_CUDA(cudaIpcGetEventHandle(&h, ev));
    if (!s.ok()) {
      cudaEventDestroy(ev);
      return s;
    }
    handle->assign(reinterpret_cast<const char*>(&h), sizeof h);
    std::lock_guard lock(ipc_mu_);
    opened_events_[ev] = device;
    return static_cast<void*>(ev);
  }
  Result<void*> OpenEventHandle(int device, std::string_view handle) override {
    cudaIpcEventHandle_t h;
    PCC_RETURN_IF_ERROR(FromBytes(handle, &h, "event"));
    PCC_RETURN_IF_ERROR(Lane(device).status());
    cudaEvent_t ev;
    PCC_CUDA_RETURN(cudaIpcOpenEventHandle(&ev, h));
    std::lock_guard lock(ipc_mu_);
    opened_events_[ev] = device;
    return static_cast<void*>(ev);
  }
  Status DestroyEvent(int device, void* event) override {
    {
      std::lock_guard lock(ipc_mu_);
      opened_events_.erase(event);
    }
    PCC_RETURN_IF_ERROR(Lane(device).status());
    return PCC_CUDA(cudaEventDestroy(static_cast<cudaEvent_t>(event)));
  }

  Status Wait(const Fence& fence) override {
    if (fence.seq == 0) return Status::Ok();
    PCC_ASSIGN_OR_RETURN(DeviceLane * lane, Lane(fence.device));
    cudaEvent_t ev;
    {
      std::lock_guard lock(lane->mu);
      if (fence.seq <= lane->done_seq) return Status::Ok();
      auto it = lane->events.find(fence.seq);
      if (it == lane->events.end()) return Status::Internal("unknown fence");
      ev = it->second;
    }
    PCC_CUDA_RETURN(cudaEventSynchronize(ev));
    std::lock_guard lock(lane->mu);
    // One stream per device: a completed fence completes every earlier one.
    if (fence.seq > lane->done_seq) lane->done_seq = fence.seq;
    for (auto it = lane->events.begin(); it != lane->events.end() && it->first <= lane->done_seq;) {
      lane->spare.push_back(it->second);
      it = lane->events.erase(it);
    }
    return Status::Ok();
  }

 private:
  explicit CudaGpu(int n) : lanes_(n) {}

  template <typename Handle>
  static Status FromBytes(std::string_view bytes, Handle* h, const char* what) {
    if (bytes.size() != sizeof(Handle)) {
      return Status::InvalidArgument(std::string("CUDA IPC ") + what + " handle of " +
                                     std::to_string(bytes.size()) + " bytes (expected " +
                                     std::to_string(sizeof(Handle)) + ")");
    }
    std::memcpy(h, bytes.data(), sizeof(Handle));
    return Status::Ok();
  }

  Result<DeviceLane*> Lane(int device) {
    if (device < 0 || device >= static_cast<int>(lanes_.size())) {
      return Status::InvalidArgument("no CUDA device " + std::to_string(device));
    }
    PCC_CUDA_RETURN(cudaSetDevice(device));
    return &lanes_[device];
  }

  // The device an interprocess event belongs to.
  std::optional<int> OwnerOf(void* event) {
    std::lock_guard lock(ipc_mu_);
    auto it = opened_events_.find(event);
    if (it == opened_events_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<DeviceLane> lanes_;
  std::string name_ = "CUDA device";
  std::mutex pinned_mu_;
  std::set<void*> pinned_;
  struct Imported {
    void* ptr = nullptr;
    uint64_t bytes = 0;
    int refs = 0;
  };
  std::mutex ipc_mu_;
  std::map<std::pair<int, std::string>, Imported> imported_;  // (device, handle)
  std::map<void*, int> opened_events_;                        // interprocess events -> device
};

}  // namespace

std::unique_ptr<Gpu> NewCudaGpu(std::string* why) { return CudaGpu::Create(why); }

#else

std::unique_ptr<Gpu> NewCudaGpu(std::string* why) {
  *why = "built without the CUDA toolkit";
  return nullptr;
}

#endif

}  // namespace pccheck
