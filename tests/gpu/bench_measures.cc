#include "bench_measures.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <thread>

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

Result<RawReadResult> MeasureRawRead(FileSystem* fs, const std::string& path, int threads) {
  constexpr uint64_t kBlock = 16ull << 20;
  OpenOptions oo;
  oo.direct = true;
  PCC_ASSIGN_OR_RETURN(auto file, fs->Open(path, oo));
  PCC_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  const uint64_t blocks = (size + kBlock - 1) / kBlock;
  std::atomic<uint64_t> next{0}, got_total{0};
  std::mutex mu;
  Status first;
  auto work = [&] {
    void* buf = std::aligned_alloc(kDirectAlign, kBlock);
    if (buf == nullptr) return;
    for (uint64_t b = next++; b < blocks; b = next++) {
      size_t got = 0;
      const uint64_t n = std::min(kBlock, AlignUp(size - b * kBlock, kDirectAlign));
      Status s = file->ReadAt(buf, n, b * kBlock, &got);
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (first.ok()) first = s;
        break;
      }
      got_total += got;
    }
    std::free(buf);
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(threads, 1); ++i) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  RawReadResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PCC_RETURN_IF_ERROR(first);
  r.bytes = got_total;
  r.direct = file->direct();
  return r;
}

}  // namespace pccheck::testing
