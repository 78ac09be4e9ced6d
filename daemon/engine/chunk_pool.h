// ChunkPool: the node-wide budget of page-locked host memory, cut into
// fixed-size chunks. Chunks are the unit of admission and backpressure: the
// copy stage takes one per chunk of checkpoint data, a writer gives it back
// once the chunk is on disk.
//
// Memory is allocated once, at construction (pinning is slow), through the
// Gpu seam. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "gpu/gpu.h"
#include "util/status.h"

namespace pccheck {

class ChunkPool {
 public:
  // bytes is rounded down to whole chunks; at least one chunk.
  static Result<std::unique_ptr<ChunkPool>> Create(Gpu* gpu, uint64_t bytes, uint64_t chunk_bytes);
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // Blocks until a chunk is free or `give_up` returns true (checked on every
  // wake-up; call Kick() after making it true). Returns null when giving up.
  uint8_t* Acquire(const std::function<bool()>& give_up);
  // Returns null at once when none is free.
  uint8_t* TryAcquire();
  void Release(uint8_t* chunk);
  // Wakes blocked Acquire calls so they re-check their give_up condition.
  void Kick();

  uint64_t chunk_bytes() const { return chunk_bytes_; }
  size_t chunk_count() const { return chunks_; }
  size_t free_count() const;
  bool locked() const { return locked_; }

 private:
  ChunkPool(Gpu* gpu, uint8_t* base, uint64_t chunk_bytes, size_t chunks, bool locked);

  Gpu* gpu_;
  uint8_t* base_;
  const uint64_t chunk_bytes_;
  const size_t chunks_;
  const bool locked_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint8_t*> free_;
};

}  // namespace pccheck
