// ChunkPool: the node-wide budget of page-locked host memory, cut into
// fixed-size chunks. Chunks are the unit of admission and backpressure: the
// copy stage takes one per chunk of checkpoint data, a writer gives it back
// once the chunk is on disk.
//
// A written chunk may be given back "resident" (ReleaseResident): it counts
// as free, but keeps its bytes until the pool needs it, so a restore soon
// after a save can read the newest checkpoint from memory instead of disk.
// Acquire takes never-resident chunks first, then evicts the oldest resident
// one; a ChunkRef names a resident chunk together with its generation, which
// changes whenever the chunk is handed out again, so a stale ref is detected.
//
// Admission by bytes: a save that must never stall midway reserves all its
// chunks up front (TryReserve / Reserve) and then takes them one by one with
// TakeReserved, which never waits. Reserved chunks are not available to
// Acquire, TryAcquire or other reservations, and Pin refuses to pin resident
// chunks that a reservation counts on.
//
// Memory is allocated once, at construction (pinning is slow), through the
// Gpu seam. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/status.h"
#include "gpu/gpu.h"

namespace pccheck {

// A resident chunk's address and the generation it was released in.
struct ChunkRef {
  uint8_t* chunk = nullptr;
  uint64_t generation = 0;
};

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
  // Reserves n chunks (free or resident, evicting resident ones as they are
  // taken) if that many are available now; false, reserving nothing, if not.
  bool TryReserve(size_t n);
  // Blocks until n chunks can be reserved or `give_up` returns true (then
  // false, reserving nothing). REQUIRES: n <= chunk_count().
  bool Reserve(size_t n, const std::function<bool()>& give_up);
  // Takes one chunk of a reservation; never null, never waits.
  // REQUIRES: a reservation with a chunk left.
  uint8_t* TakeReserved();
  // Returns n reserved chunks that will not be taken.
  void Unreserve(size_t n);
  // Gives a chunk back keeping its bytes until the pool needs it.
  ChunkRef ReleaseResident(uint8_t* chunk);
  // Pins every chunk in refs so that no Acquire evicts it, if all of them
  // still hold the bytes they were released with; returns false (pinning
  // nothing) otherwise. Every successful Pin needs an Unpin.
  bool Pin(const std::vector<ChunkRef>& refs);
  void Unpin(const std::vector<ChunkRef>& refs);
  // Drops refs that are still resident back to plain free chunks (their
  // bytes are no longer wanted), so they are reused before other resident ones.
  void Forget(const std::vector<ChunkRef>& refs);
  // Wakes blocked Acquire calls so they re-check their give_up condition.
  void Kick();

  uint64_t chunk_bytes() const { return chunk_bytes_; }
  size_t chunk_count() const { return chunks_; }
  // Chunks Acquire can hand out now (free and unpinned resident ones, less
  // the reserved ones).
  size_t free_count() const;
  size_t reserved_count() const;
  size_t resident_count() const;
  bool locked() const { return locked_; }

 private:
  ChunkPool(Gpu* gpu, uint8_t* base, uint64_t chunk_bytes, size_t chunks, bool locked);
  size_t IndexOf(const uint8_t* chunk) const;
  // A free chunk, else a resident one to evict (oldest first, skipping
  // pinned ones), or null; unless `reserved`, only beyond the reservations.
  // REQUIRES: mu_ held.
  uint8_t* TakeLocked(bool reserved = false);
  // Free and unpinned resident chunks, reservations included. REQUIRES: mu_.
  size_t AvailableLocked() const { return free_.size() + resident_.size() - pinned_resident_; }
  bool ValidLocked(const ChunkRef& r) const;

  Gpu* gpu_;
  uint8_t* base_;
  const uint64_t chunk_bytes_;
  const size_t chunks_;
  const bool locked_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint8_t*> free_;
  std::deque<size_t> resident_;       // chunk indices, oldest release first
  std::vector<uint64_t> generation_;  // per chunk; bumped when handed out
  std::vector<bool> is_resident_;     // per chunk
  std::vector<uint32_t> pins_;        // per chunk
  size_t pinned_resident_ = 0;        // resident chunks with pins_ > 0
  size_t reserved_ = 0;               // chunks promised to reservations, not taken yet
};

}  // namespace pccheck
