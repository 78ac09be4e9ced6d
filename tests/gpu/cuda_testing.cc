#include "cuda_testing.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

#include "base/size_parse.h"

namespace pccheck::testing {

LaunchOptions GpuDaemonOptions(const std::string& dir, const GpuDaemonFlags& flags) {
  LaunchOptions o;
  o.dir = dir;
  o.defaults = {};
  o.flags = {"--pool",         flags.pool,
             "--chunk",        flags.chunk,
             "--writers",      std::to_string(flags.writers),
             "--max-inflight", std::to_string(flags.max_inflight),
             "--policy",       flags.policy,
             "--direct-io",    flags.direct_io ? "true" : "false",
             "--log-level",    "info"};
  o.ready_timeout_ms = 120'000;
  return o;
}

void CheckCuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return;
  (void)cudaGetLastError();
  throw std::runtime_error(std::string(call) + ": " + cudaGetErrorName(err) + " (" +
                           cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line));
}

bool CudaUsable(std::string* why) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaSuccess && n == 0) {
    *why = "cudaGetDeviceCount found none";
    return false;
  }
  if (err == cudaSuccess) err = cudaFree(nullptr);  // creates the context
  if (err != cudaSuccess) {
    *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    return false;
  }
  return true;
}

uint64_t EnvBytes(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  auto parsed = ParseSize(v);
  if (!parsed.ok()) {
    throw std::runtime_error(std::string(name) + ": " + parsed.status().message());
  }
  return parsed.value();
}

DeviceBuffer::DeviceBuffer(uint64_t bytes) : bytes_(bytes) {
  void* p = nullptr;
  TEST_CUDA(cudaMalloc(&p, std::max<uint64_t>(bytes, 1)));
  p_ = static_cast<uint8_t*>(p);
}

DeviceBuffer::~DeviceBuffer() {
  if (p_ != nullptr) (void)cudaFree(p_);
}

PinnedBuffer::PinnedBuffer(uint64_t bytes) : bytes_(bytes) {
  void* p = nullptr;
  TEST_CUDA(cudaHostAlloc(&p, std::max<uint64_t>(bytes, 1), cudaHostAllocPortable));
  p_ = static_cast<uint8_t*>(p);
}

PinnedBuffer::~PinnedBuffer() {
  if (p_ != nullptr) (void)cudaFreeHost(p_);
}

namespace {
constexpr uint64_t kBlock = 64ull << 20;
}

Pattern::Pattern() : block_(kBlock) {
  std::mt19937_64 rng(0x5eed);
  for (uint64_t i = 0; i < kBlock; i += 8) {
    const uint64_t v = rng();
    std::memcpy(block_.get() + i, &v, 8);
  }
}

const Pattern& Pattern::Get() {
  static const Pattern pattern;
  return pattern;
}

uint64_t Pattern::Shift(uint64_t seed) const { return (seed * 1000003ull + 17) % kBlock; }

void Pattern::Fill(void* dev, uint64_t bytes, uint64_t seed, cudaStream_t stream) const {
  auto* d = static_cast<uint8_t*>(dev);
  for (uint64_t off = 0; off < bytes;) {
    const uint64_t src = (off + Shift(seed)) % kBlock;
    const uint64_t n = std::min(kBlock - src, bytes - off);
    TEST_CUDA(cudaMemcpyAsync(d + off, block_.get() + src, n, cudaMemcpyHostToDevice, stream));
    off += n;
  }
}

int64_t Pattern::Mismatch(const void* dev, uint64_t bytes, uint64_t seed) const {
  static thread_local PinnedBuffer scratch(kBlock);
  const auto* d = static_cast<const uint8_t*>(dev);
  for (uint64_t off = 0; off < bytes;) {
    const uint64_t src = (off + Shift(seed)) % kBlock;
    const uint64_t n = std::min(kBlock - src, bytes - off);
    TEST_CUDA(cudaMemcpy(scratch.get(), d + off, n, cudaMemcpyDeviceToHost));
    if (std::memcmp(scratch.get(), block_.get() + src, n) != 0) {
      for (uint64_t i = 0; i < n; ++i) {
        if (scratch.get()[i] != block_.get()[src + i]) return static_cast<int64_t>(off + i);
      }
    }
    off += n;
  }
  return -1;
}

}  // namespace pccheck::testing
