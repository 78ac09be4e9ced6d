// CudaGpu: the Gpu seam on the CUDA runtime. One non-blocking copy stream per
// device; fences are CUDA events recorded on it. Without the CUDA toolkit at
// build time NewCudaGpu says so and returns null.
#include "gpu/gpu.h"

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "gpu/cuda_check.h"
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
      if (s.ok()) s = PCC_CUDA(cudaStreamCreateWithFlags(&gpu->lanes_[d].stream, cudaStreamNonBlocking));
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

  Status StreamWaitEvent(int device, void* event) override {
    PCC_ASSIGN_OR_RETURN(DeviceLane * lane, Lane(device));
    return PCC_CUDA(cudaStreamWaitEvent(lane->stream, static_cast<cudaEvent_t>(event), 0));
  }
  Status RecordEvent(int device, void* event) override {
    PCC_ASSIGN_OR_RETURN(DeviceLane * lane, Lane(device));
    return PCC_CUDA(cudaEventRecord(static_cast<cudaEvent_t>(event), lane->stream));
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

  Result<DeviceLane*> Lane(int device) {
    if (device < 0 || device >= static_cast<int>(lanes_.size())) {
      return Status::InvalidArgument("no CUDA device " + std::to_string(device));
    }
    PCC_CUDA_RETURN(cudaSetDevice(device));
    return &lanes_[device];
  }

  std::vector<DeviceLane> lanes_;
  std::string name_ = "CUDA device";
  std::mutex pinned_mu_;
  std::set<void*> pinned_;
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
