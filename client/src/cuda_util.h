// libpccheck's CUDA boundary helpers (CUDA builds only): errors become a
// Status through gpu/cuda_check.h, the one place that does it for pccheck,
// and DeviceGuard changes the calling thread's current device only for as
// long as a call needs it (the trainer's own choice is restored).
#pragma once

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda_api/cuda_check.h"

namespace pccheck::client {

class DeviceGuard {
 public:
  // Makes `device` current; the destructor restores the previous one.
  static Result<DeviceGuard> Set(int device) {
    int previous = 0;
    PCC_CUDA_RETURN(cudaGetDevice(&previous));
    if (previous != device) PCC_CUDA_RETURN(cudaSetDevice(device));
    return DeviceGuard(previous, previous != device);
  }
  DeviceGuard(int previous, bool restore) : previous_(previous), restore_(restore) {}
  ~DeviceGuard() {
    if (restore_) (void)cudaSetDevice(previous_);
  }
  DeviceGuard(DeviceGuard&& o) noexcept : previous_(o.previous_), restore_(o.restore_) {
    o.restore_ = false;
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  DeviceGuard& operator=(DeviceGuard&&) = delete;

 private:
  int previous_;
  bool restore_;
};

}  // namespace pccheck::client

// PCC_DEVICE_GUARD(guard, device): guard holds `device` current until scope end.
#define PCC_DEVICE_GUARD(name, device) \
  PCC_ASSIGN_OR_RETURN(auto name, ::pccheck::client::DeviceGuard::Set(device))
#endif
