#include "engine/chunk_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>

namespace pccheck {

Result<std::unique_ptr<ChunkPool>> ChunkPool::Create(Gpu* gpu, uint64_t bytes,
                                                     uint64_t chunk_bytes) {
  if (chunk_bytes == 0 || chunk_bytes % 4096 != 0) {
    return Status::InvalidArgument("chunk size " + std::to_string(chunk_bytes) +
                                   " is not a positive multiple of 4096");
  }
  size_t chunks = bytes / chunk_bytes;
  if (chunks == 0) {
    return Status::InvalidArgument("pool of " + std::to_string(bytes) +
                                   " bytes holds no chunk of " + std::to_string(chunk_bytes) +
                                   " bytes; raise the pool size or lower the chunk size");
  }
  bool locked = false;
  auto mem = gpu->AllocHost(chunks * chunk_bytes, &locked);
  if (!mem.ok()) return mem.status().Annotate("allocating the chunk pool");
  if (!locked) {
    spdlog::warn(
        "chunk pool of {} bytes is not page-locked (locking refused); copies from the GPU will be "
        "slower. Raise the memlock limit (LimitMEMLOCK=infinity in the unit, ulimit -l) to fix it",
        chunks * chunk_bytes);
  }
  return std::unique_ptr<ChunkPool>(
      new ChunkPool(gpu, static_cast<uint8_t*>(mem.value()), chunk_bytes, chunks, locked));
}

ChunkPool::ChunkPool(Gpu* gpu, uint8_t* base, uint64_t chunk_bytes, size_t chunks, bool locked)
    : gpu_(gpu), base_(base), chunk_bytes_(chunk_bytes), chunks_(chunks), locked_(locked) {
  free_.reserve(chunks);
  // Hand out low addresses first: a small working set stays in fewer pages.
  for (size_t i = chunks; i-- > 0;) free_.push_back(base_ + i * chunk_bytes_);
}

ChunkPool::~ChunkPool() {
  assert(free_.size() == chunks_ && "a chunk is still in use");
  gpu_->FreeHost(base_, chunks_ * chunk_bytes_);
}

uint8_t* ChunkPool::Acquire(const std::function<bool()>& give_up) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !free_.empty() || give_up(); });
  if (free_.empty()) return nullptr;
  uint8_t* c = free_.back();
  free_.pop_back();
  return c;
}

uint8_t* ChunkPool::TryAcquire() {
  std::lock_guard lock(mu_);
  if (free_.empty()) return nullptr;
  uint8_t* c = free_.back();
  free_.pop_back();
  return c;
}

void ChunkPool::Release(uint8_t* chunk) {
  assert(chunk >= base_ && chunk < base_ + chunks_ * chunk_bytes_);
  {
    std::lock_guard lock(mu_);
    free_.push_back(chunk);
  }
  cv_.notify_all();
}

void ChunkPool::Kick() {
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

size_t ChunkPool::free_count() const {
  std::lock_guard lock(mu_);
  return free_.size();
}

}  // namespace pccheck
