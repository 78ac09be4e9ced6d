// The one place a CUDA error becomes a Status. Clears CUDA's sticky
// per-thread error so one failure does not poison later calls.
#pragma once

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <string>

#include "base/status.h"

namespace pccheck {

inline Status CudaStatus(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return Status::Ok();
  (void)cudaGetLastError();
  std::string msg =
      std::string(call) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
      err == cudaErrorNotSupported) {
    return Status::Unavailable(msg);
  }
  if (err == cudaErrorInvalidValue || err == cudaErrorInvalidDevice ||
      err == cudaErrorInvalidResourceHandle) {
    return Status::InvalidArgument(msg);
  }
  return Status::Internal(msg);
}

}  // namespace pccheck

#define PCC_CUDA(call) ::pccheck::CudaStatus((call), #call)
#define PCC_CUDA_RETURN(call) PCC_RETURN_IF_ERROR(PCC_CUDA(call))
#endif
