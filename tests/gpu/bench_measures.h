// Measuring helpers for gpu_bench: percentiles, CUDA-event timing of a
// stream's work, and the raw parallel O_DIRECT read that restore is compared
// against (the write reference is the CLI's, daemon/cli/raw_write.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "pccheck/status.h"

namespace pccheck::testing {

// The q-quantile (0..1) of xs by nearest rank; 0 for none.
double Quantile(std::vector<double> xs, double q);

// Milliseconds between two events recorded around `work` on `stream`
// (enqueued by work, then waited for).
double TimeOnStream(cudaStream_t stream, const std::function<void()>& work);

struct RawReadResult {
  uint64_t bytes = 0;
  double seconds = 0;
  bool direct = false;
  double gbps() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0; }
};

// Reads all of `path` with `threads` threads in 16 MiB blocks with O_DIRECT
// (buffered where the file system refuses it, and then direct is false).
Result<RawReadResult> MeasureRawRead(FileSystem* fs, const std::string& path, int threads);

}  // namespace pccheck::testing
