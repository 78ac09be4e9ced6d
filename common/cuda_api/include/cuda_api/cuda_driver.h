// The one driver call pccheck needs, cuMemGetAddressRange, reached through the
// runtime's entry-point query so that nothing links libcuda directly (the
// runtime finds the driver that is installed). Header-only: the daemon and
// libpccheck both use it. CUDA builds only. The driver's types are spelled
// out here (CUresult is an int-sized enum, CUdeviceptr a 64-bit integer) so
// that only the runtime's headers are needed.
#pragma once

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "cuda_api/cuda_check.h"

namespace pccheck {

struct AllocationRange {
  uintptr_t base = 0;  // the address cudaMalloc (or the caching allocator's segment) returned
  uint64_t bytes = 0;  // the allocation's size
};

namespace cuda_driver_internal {

using DriverResult = int;              // CUresult; 0 is CUDA_SUCCESS
using DevicePtr = unsigned long long;  // CUdeviceptr
using GetAddressRangeFn = DriverResult (*)(DevicePtr*, size_t*, DevicePtr);
using GetErrorNameFn = DriverResult (*)(DriverResult, const char**);

inline Status EntryPoint(const char* symbol, void** fn) {
  cudaDriverEntryPointQueryResult found{};
#if CUDART_VERSION >= 12050
  Status s =
      PCC_CUDA(cudaGetDriverEntryPointByVersion(symbol, fn, 12000, cudaEnableDefault, &found));
#else
  Status s = PCC_CUDA(cudaGetDriverEntryPoint(symbol, fn, cudaEnableDefault, &found));
#endif
  if (!s.ok()) return s.Annotate(std::string("looking up the driver's ") + symbol);
  if (found != cudaDriverEntryPointSuccess || *fn == nullptr) {
    return Status::Unavailable(std::string("the CUDA driver has no ") + symbol +
                               " (driver too old for this CUDA runtime?)");
  }
  return Status::Ok();
}

struct Driver {
  Status status;
  GetAddressRangeFn get_address_range = nullptr;
  GetErrorNameFn get_error_name = nullptr;
};

// Looked up once per process; thread-safe (a function-local static).
inline const Driver& Lookup() {
  static const Driver driver = [] {
    Driver d;
    void* fn = nullptr;
    d.status = EntryPoint("cuMemGetAddressRange", &fn);
    d.get_address_range = reinterpret_cast<GetAddressRangeFn>(fn);
    void* name = nullptr;
    if (EntryPoint("cuGetErrorName", &name).ok()) {
      d.get_error_name = reinterpret_cast<GetErrorNameFn>(name);
    }
    return d;
  }();
  return driver;
}

}  // namespace cuda_driver_internal

// The allocation that contains `ptr`, in the current device's context (set
// the device first). Fails naming the driver error when ptr is not device
// memory the driver knows.
inline Result<AllocationRange> CudaAllocationRange(const void* ptr) {
  const auto& driver = cuda_driver_internal::Lookup();
  if (!driver.status.ok()) return driver.status;
  cuda_driver_internal::DevicePtr base = 0;
  size_t bytes = 0;
  const auto r = driver.get_address_range(&base, &bytes,
                                          reinterpret_cast<cuda_driver_internal::DevicePtr>(ptr));
  if (r != 0) {
    const char* name = nullptr;
    if (driver.get_error_name == nullptr || driver.get_error_name(r, &name) != 0) {
      name = nullptr;
    }
    return Status::InvalidArgument(
        "cuMemGetAddressRange: " + (name ? std::string(name) : "CUresult " + std::to_string(r)) +
        " (is the pointer device memory of this device?)");
  }
  return AllocationRange{static_cast<uintptr_t>(base), static_cast<uint64_t>(bytes)};
}

}  // namespace pccheck
#endif
