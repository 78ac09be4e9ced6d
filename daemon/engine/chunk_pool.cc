#include "engine/chunk_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <cstring>

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
  // Written once now, before the daemon says it is ready: locking maps the
  // pages, but on virtual machines the first write to each page can still
  // cost a fault in the hypervisor (measured on a 2-core VM: a 512 MiB
  // snapshot copied in 600 ms into untouched pool memory, in 30 ms once
  // written). Paid here, at start, and not by a trainer's first checkpoints.
  std::memset(mem.value(), 0, chunks * chunk_bytes);
  return std::unique_ptr<ChunkPool>(
      new ChunkPool(gpu, static_cast<uint8_t*>(mem.value()), chunk_bytes, chunks, locked));
}

ChunkPool::ChunkPool(Gpu* gpu, uint8_t* base, uint64_t chunk_bytes, size_t chunks, bool locked)
    : gpu_(gpu), base_(base), chunk_bytes_(chunk_bytes), chunks_(chunks), locked_(locked) {
  free_.reserve(chunks);
  generation_.assign(chunks, 0);
  is_resident_.assign(chunks, false);
  pins_.assign(chunks, 0);
  // Hand out low addresses first: a small working set stays in fewer pages.
  for (size_t i = chunks; i-- > 0;) free_.push_back(base_ + i * chunk_bytes_);
}

ChunkPool::~ChunkPool() {
  assert(free_.size() + resident_.size() == chunks_ && "a chunk is still in use");
  gpu_->FreeHost(base_, chunks_ * chunk_bytes_);
}

size_t ChunkPool::IndexOf(const uint8_t* chunk) const {
  assert(chunk >= base_ && chunk < base_ + chunks_ * chunk_bytes_);
  return static_cast<size_t>(chunk - base_) / chunk_bytes_;
}

uint8_t* ChunkPool::TakeLocked(bool reserved) {
  if (!reserved && AvailableLocked() <= reserved_) return nullptr;
  uint8_t* c = nullptr;
  if (!free_.empty()) {
    c = free_.back();
    free_.pop_back();
  } else {
    auto it =
        std::find_if(resident_.begin(), resident_.end(), [&](size_t i) { return pins_[i] == 0; });
    if (it == resident_.end()) return nullptr;
    is_resident_[*it] = false;
    c = base_ + *it * chunk_bytes_;
    resident_.erase(it);
  }
  ++generation_[IndexOf(c)];
  return c;
}

uint8_t* ChunkPool::Acquire(const std::function<bool()>& give_up) {
  std::unique_lock lock(mu_);
  uint8_t* c = nullptr;
  cv_.wait(lock, [&] { return (c = TakeLocked()) != nullptr || give_up(); });
  return c;
}

uint8_t* ChunkPool::TryAcquire() {
  std::lock_guard lock(mu_);
  return TakeLocked();
}

bool ChunkPool::TryReserve(size_t n) {
  std::lock_guard lock(mu_);
  if (AvailableLocked() < reserved_ + n) return false;
  reserved_ += n;
  return true;
}

bool ChunkPool::Reserve(size_t n, const std::function<bool()>& give_up) {
  assert(n <= chunks_);
  std::unique_lock lock(mu_);
  bool ok = false;
  cv_.wait(lock, [&] {
    ok = AvailableLocked() >= reserved_ + n;
    return ok || give_up();
  });
  if (ok) reserved_ += n;
  return ok;
}

uint8_t* ChunkPool::TakeReserved() {
  std::lock_guard lock(mu_);
  assert(reserved_ > 0);
  uint8_t* c = TakeLocked(/*reserved=*/true);
  assert(c != nullptr && "a reservation counted on a chunk that is not there");
  --reserved_;
  return c;
}

void ChunkPool::Unreserve(size_t n) {
  if (n == 0) return;
  {
    std::lock_guard lock(mu_);
    assert(reserved_ >= n);
    reserved_ -= n;
  }
  cv_.notify_all();
}

void ChunkPool::Release(uint8_t* chunk) {
  const size_t i = IndexOf(chunk);
  {
    std::lock_guard lock(mu_);
    assert(!is_resident_[i]);
    (void)i;
    free_.push_back(chunk);
  }
  cv_.notify_all();
}

ChunkRef ChunkPool::ReleaseResident(uint8_t* chunk) {
  const size_t i = IndexOf(chunk);
  ChunkRef ref{chunk, 0};
  {
    std::lock_guard lock(mu_);
    assert(!is_resident_[i]);
    is_resident_[i] = true;
    resident_.push_back(i);
    ref.generation = generation_[i];
  }
  cv_.notify_all();
  return ref;
}

bool ChunkPool::ValidLocked(const ChunkRef& r) const {
  const size_t i = IndexOf(r.chunk);
  return is_resident_[i] && generation_[i] == r.generation;
}

bool ChunkPool::Pin(const std::vector<ChunkRef>& refs) {
  std::lock_guard lock(mu_);
  size_t newly = 0;
  for (const ChunkRef& r : refs) {
    if (!ValidLocked(r)) return false;
    if (pins_[IndexOf(r.chunk)] == 0) ++newly;
  }
  // Never take chunks a reservation counts on (refs are distinct chunks).
  if (AvailableLocked() < reserved_ + newly) return false;
  for (const ChunkRef& r : refs) {
    if (pins_[IndexOf(r.chunk)]++ == 0) ++pinned_resident_;
  }
  return true;
}

void ChunkPool::Unpin(const std::vector<ChunkRef>& refs) {
  {
    std::lock_guard lock(mu_);
    for (const ChunkRef& r : refs) {
      const size_t i = IndexOf(r.chunk);
      assert(pins_[i] > 0);
      if (--pins_[i] == 0) --pinned_resident_;
    }
  }
  cv_.notify_all();
}

void ChunkPool::Forget(const std::vector<ChunkRef>& refs) {
  std::lock_guard lock(mu_);
  size_t dropped = 0;
  for (const ChunkRef& r : refs) {
    const size_t i = IndexOf(r.chunk);
    if (!ValidLocked(r) || pins_[i] > 0) continue;
    is_resident_[i] = false;
    free_.push_back(r.chunk);
    ++dropped;
  }
  // One pass over the resident list, not one search per chunk: a whole
  // checkpoint's chunks are forgotten at once, under the pool's lock.
  if (dropped > 0) {
    std::erase_if(resident_, [&](size_t i) { return !is_resident_[i]; });
  }
}

void ChunkPool::Kick() {
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

size_t ChunkPool::free_count() const {
  std::lock_guard lock(mu_);
  return AvailableLocked() - reserved_;
}

size_t ChunkPool::reserved_count() const {
  std::lock_guard lock(mu_);
  return reserved_;
}

size_t ChunkPool::resident_count() const {
  std::lock_guard lock(mu_);
  return resident_.size();
}

}  // namespace pccheck
