// Measuring helpers for gpu_bench: percentiles and CUDA-event timing of a
// stream's work. The disk references (write and read ceilings) are the ones
// every bench shares: io/disk_ceiling.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace pccheck::testing {

// The q-quantile (0..1) of xs by nearest rank; 0 for none.
double Quantile(std::vector<double> xs, double q);

// Milliseconds between two events recorded around `work` on `stream`
// (enqueued by work, then waited for).
double TimeOnStream(cudaStream_t stream, const std::function<void()>& work);

}  // namespace pccheck::testing
