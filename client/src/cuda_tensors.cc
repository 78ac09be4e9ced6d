#include "cuda_tensors.h"

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <cstring>
#include <sstream>

#include "cuda_api/cuda_driver.h"
#include "cuda_util.h"

namespace pccheck::client {

namespace {

static_assert(sizeof(cudaIpcMemHandle_t) == wire::kIpcHandleBytes);
constexpr uint64_t kStagingAlign = 256;

std::string Describe(const GpuTensor& t) {
  std::ostringstream out;
  out << "GPU tensor '" << t.name << "' (device " << t.device << ", " << t.data << ", " << t.bytes
      << " bytes)";
  return out.str();
}

struct Base {
  AllocationRange range;
  std::string handle;
};

// Exports the allocation that holds t; the caller keeps it for later tensors.
Result<Base> ExportBase(const GpuTensor& t) {
  PCC_ASSIGN_OR_RETURN(AllocationRange range, CudaAllocationRange(t.data));
  cudaIpcMemHandle_t h;
  cudaError_t err = cudaIpcGetMemHandle(&h, reinterpret_cast<void*>(range.base));
  if (err != cudaSuccess) {
    return CudaStatus(err, "cudaIpcGetMemHandle")
        .Annotate(
            "its memory cannot be shared with pccheckd through CUDA IPC (memory from "
            "PyTorch's expandable segments or a cudaMallocAsync pool cannot); set "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:False, or use snapshot=\"gpu\"");
  }
  return Base{range, std::string(reinterpret_cast<const char*>(&h), sizeof h)};
}

}  // namespace

Status CheckDeviceMemory(const GpuTensor& t, bool exported) {
  cudaPointerAttributes attr{};
  Status s = PCC_CUDA(cudaPointerGetAttributes(&attr, t.data));
  if (!s.ok()) return s.Annotate(Describe(t));
  const bool device = attr.type == cudaMemoryTypeDevice;
  const bool managed = attr.type == cudaMemoryTypeManaged;
  if (!device && !(managed && !exported)) {
    return Status::InvalidArgument(
        Describe(t) + " is not device memory" +
        (managed ? " (managed memory cannot be shared with pccheckd; use snapshot=\"gpu\")"
                 : " (host memory: register it with device -1)"));
  }
  if (attr.device != t.device) {
    return Status::InvalidArgument(Describe(t) + " lives on device " + std::to_string(attr.device));
  }
  return Status::Ok();
}

Result<std::map<size_t, wire::TensorSpec>> ExportBases(const std::vector<GpuTensor>& tensors) {
  std::map<size_t, wire::TensorSpec> specs;
  std::vector<Base> bases;  // exported so far in this registration
  for (const GpuTensor& t : tensors) {
    PCC_RETURN_IF_ERROR(CheckDeviceMemory(t, true));
    PCC_DEVICE_GUARD(guard, t.device);
    PCC_CUDA_RETURN(cudaFree(nullptr));  // the driver call below needs the context current
    const auto p = reinterpret_cast<uintptr_t>(t.data);
    const Base* base = nullptr;
    for (const Base& b : bases) {
      if (p >= b.range.base && p - b.range.base < b.range.bytes) base = &b;
    }
    if (base == nullptr) {
      auto exported = ExportBase(t);
      if (!exported.ok()) return exported.status().Annotate(Describe(t));
      bases.push_back(std::move(exported).value());
      base = &bases.back();
    }
    const uint64_t offset = p - base->range.base;
    if (t.bytes > base->range.bytes - offset) {
      return Status::InvalidArgument(Describe(t) + " runs past the end of its allocation (" +
                                     std::to_string(base->range.bytes) + " bytes)");
    }
    wire::TensorSpec spec;
    spec.location = wire::Location::kCudaIpc;
    spec.device = static_cast<uint32_t>(t.device);
    spec.ipc_handle = base->handle;
    spec.base_bytes = base->range.bytes;
    spec.offset = offset;
    specs[t.index] = std::move(spec);
  }
  return specs;
}

StagingLayout PlanStaging(const std::vector<GpuTensor>& tensors) {
  StagingLayout layout;
  for (const GpuTensor& t : tensors) {
    layout.bytes = (layout.bytes + kStagingAlign - 1) / kStagingAlign * kStagingAlign;
    layout.offsets.push_back(layout.bytes);
    layout.bytes += t.bytes;
  }
  return layout;
}

Result<std::unique_ptr<StagingBuffer>> StagingBuffer::Open(int device, const std::string& handle,
                                                           uint64_t bytes) {
  PCC_DEVICE_GUARD(guard, device);
  cudaIpcMemHandle_t h;
  std::memcpy(&h, handle.data(), sizeof h);  // the decoder checked: 64 bytes
  void* p = nullptr;
  PCC_CUDA_RETURN(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess));
  return std::unique_ptr<StagingBuffer>(
      new StagingBuffer(device, static_cast<uint8_t*>(p), bytes, handle));
}

StagingBuffer::~StagingBuffer() {
  auto guard = DeviceGuard::Set(device_);
  (void)cudaIpcCloseMemHandle(data_);
}

std::map<size_t, wire::TensorSpec> StagingSpecs(const std::vector<GpuTensor>& tensors,
                                                const StagingLayout& layout,
                                                const StagingBuffer& buffer) {
  std::map<size_t, wire::TensorSpec> specs;
  for (size_t i = 0; i < tensors.size(); ++i) {
    wire::TensorSpec spec;
    spec.location = wire::Location::kCudaIpc;
    spec.device = static_cast<uint32_t>(buffer.device());
    spec.ipc_handle = buffer.handle();
    spec.base_bytes = buffer.bytes();
    spec.offset = layout.offsets[i];
    specs[tensors[i].index] = std::move(spec);
  }
  return specs;
}

}  // namespace pccheck::client
#endif
