#include "bench_measures.h"

#include <algorithm>
#include <cmath>

#include "cuda_testing.h"

namespace pccheck::testing {

double Quantile(std::vector<double> xs, double q) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(xs.size())));
  return xs[std::min(xs.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double TimeOnStream(cudaStream_t stream, const std::function<void()>& work) {
  cudaEvent_t a, b;
  TEST_CUDA(cudaEventCreate(&a));
  TEST_CUDA(cudaEventCreate(&b));
  TEST_CUDA(cudaEventRecord(a, stream));
  work();
  TEST_CUDA(cudaEventRecord(b, stream));
  TEST_CUDA(cudaEventSynchronize(b));
  float ms = 0;
  TEST_CUDA(cudaEventElapsedTime(&ms, a, b));
  (void)cudaEventDestroy(a);
  (void)cudaEventDestroy(b);
  return ms;
}

}  // namespace pccheck::testing
