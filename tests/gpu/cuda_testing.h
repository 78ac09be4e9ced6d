// What the GPU tests and the GPU benchmark share (CUDA builds only): CUDA
// failures as exceptions (a test fails naming the call; the benchmark
// reports it), RAII device and pinned buffers, deterministic tensor contents
// that are cheap to write and check on the device, and sizes from the
// environment.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "support/daemon_launcher.h"

namespace pccheck::testing {

// pccheckd for the GPU tests and benchmark. Sizes are flags so that a test
// can make the pool larger or smaller than a checkpoint.
struct GpuDaemonFlags {
  std::string pool = "2GiB";
  std::string chunk = "16MiB";
  int writers = 4;
  int max_inflight = 2;
  bool direct_io = true;  // refused by tmpfs: the daemon then writes buffered
  std::string policy = "block";
};
// Its launch: store, socket and log under `dir` (which must exist and outlive
// the daemon), and 120 s to start (pinning a large pool takes a while).
LaunchOptions GpuDaemonOptions(const std::string& dir, const GpuDaemonFlags& flags);

// Throws std::runtime_error("<call>: <error name> (<text>) at file:line").
void CheckCuda(cudaError_t err, const char* call, const char* file, int line);
#define TEST_CUDA(call) ::pccheck::testing::CheckCuda((call), #call, __FILE__, __LINE__)

// True when a CUDA device can be used here; otherwise *why says why not.
bool CudaUsable(std::string* why);

// A byte size from the environment ("4GiB", "512M"), or `fallback`.
uint64_t EnvBytes(const char* name, uint64_t fallback);

class DeviceBuffer {
 public:
  explicit DeviceBuffer(uint64_t bytes);  // cudaMalloc on the current device
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  uint8_t* get() const { return p_; }
  uint64_t bytes() const { return bytes_; }

 private:
  uint8_t* p_ = nullptr;
  uint64_t bytes_ = 0;
};

class PinnedBuffer {
 public:
  explicit PinnedBuffer(uint64_t bytes);  // cudaHostAlloc
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  uint8_t* get() const { return p_; }
  uint64_t bytes() const { return bytes_; }

 private:
  uint8_t* p_ = nullptr;
  uint64_t bytes_ = 0;
};

// Contents keyed by a seed: byte i of a buffer filled with seed s is
// block[(i + shift(s)) % block size], with one 64 MiB random block in pinned
// memory. Filling is host-to-device copies on a stream (no kernel).
class Pattern {
 public:
  static const Pattern& Get();  // made on first use
  // Queues the copies that fill dev[0, bytes) on `stream`.
  void Fill(void* dev, uint64_t bytes, uint64_t seed, cudaStream_t stream) const;
  // The first offset where dev[0, bytes) differs from the pattern, or -1.
  // Synchronous (copies through a pinned scratch buffer).
  int64_t Mismatch(const void* dev, uint64_t bytes, uint64_t seed) const;

 private:
  Pattern();
  uint64_t Shift(uint64_t seed) const;
  PinnedBuffer block_;
};

}  // namespace pccheck::testing
