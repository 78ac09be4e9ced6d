// Pipeline: the threads that move checkpoints from their sources to disk.
//
//   copy thread     one per engine; takes saves in arrival order and, chunk by
//                   chunk, takes a pool chunk (from the save's reservation, or,
//                   for a save larger than the pool, waiting: backpressure)
//                   and fills it from the sources through Gpu
//   checksum threads (memory tier, `coalesce`; checksum_threads of them) wait
//                   for a chunk's copy, checksum it and park it until its
//                   store's write turn (memory_tier.cc), or pass it on when the
//                   turn has come; several, since one thread checksums
//                   slower than a device copy lands
//   turn thread     (memory tier) starts a store's next write turn: reserves
//                   its slot and opens its data file
//   writer threads  wait for a chunk's copy, checksum it (unless done), write
//                   it with O_DIRECT at its offset, give the chunk back
//   commit thread   once a save's last chunk is written, runs the commit
//                   protocol (commit.h) and acknowledges
//
// Copies of chunk i+1 overlap writes of chunk i, and several saves overlap
// each other. Each thread reports to Liveness (util/liveness.h) when it
// parks and when it starts a bounded step. Internal to the engine.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/liveness.h"
#include "engine/chunk_pool.h"
#include "engine/engine.h"
#include "engine/recent_rate.h"
#include "engine/slot_store.h"

namespace pccheck {

struct Checkpoint;

// One chunk of a save on its way to disk.
struct ChunkTask {
  std::shared_ptr<Checkpoint> ckpt;
  uint64_t index = 0;
  uint8_t* buf = nullptr;
  uint64_t len = 0;
  std::vector<Fence> fences;
  bool copied = false;   // counted as copied (fences waited for, or none)
  bool checked = false;  // its checksum is in the manifest
};

// One save in flight.
struct Checkpoint {
  SaveRequest request;  // tensors with offsets assigned
  Manifest manifest;    // filled as chunks are written
  std::shared_ptr<SaveHandle> handle;
  SlotStore* store = nullptr;
  std::unique_ptr<File> data;
  uint64_t chunks = 0;
  std::atomic<uint64_t> to_copy{0};   // chunks whose copy has not ended
  std::atomic<uint64_t> to_write{0};  // chunks not yet written or skipped
  std::atomic<bool> cancelled{false};
  // With keep_resident: the pool chunks holding each written chunk's bytes.
  std::vector<ChunkRef> resident;
  // Every chunk is written and the save was not cancelled: the commit
  // protocol runs (or is about to).
  std::atomic<bool> committing{false};
  uint64_t submitted_us = 0;  // Clock::NowMicros when it entered the pipeline
  // Admitted whole: its chunks come from a pool reservation; reserve_left of
  // them not taken yet (copy thread only).
  bool reserved = false;
  uint64_t reserve_left = 0;
  // Memory tier (`coalesce`): its slot is reserved and its chunks written
  // only when its store's write turn comes (memory_tier.cc).
  bool gated = false;
  bool has_slot = false;  // BeginSave succeeded: Finalize ends the slot
  bool kept = false;      // keep_every keeps its step: never coalesced
  // Guarded by Pipeline::mu_: its turn came; a newer snapshot superseded it;
  // restores reading its parked chunks; chunks checksummed and parked.
  bool writing = false;
  bool coalesced = false;
  int readers = 0;
  uint64_t parked_count = 0;
  std::vector<ChunkTask> parked;
  std::mutex mu;
  Status error;  // first failure, or the reason for cancelling

  // Records the first failure and stops further work on this save.
  void Fail(const Status& s);
  Status Error();
};

struct EngineCounters {
  // Time spent per stage, summed over threads (EngineProfile).
  std::atomic<uint64_t> copy_us{0}, pool_wait_us{0}, fence_wait_us{0}, crc_us{0}, write_us{0},
      commit_us{0}, commits_timed{0};
  std::atomic<uint64_t> committed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> superseded{0};
  std::atomic<uint64_t> coalesced{0};
  std::atomic<uint64_t> skipped{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> bytes_copied{0};
};

class Pipeline {
 public:
  // clock times the saves and the recent rates; liveness (may be null: not
  // watched) reports the threads' progress; both must outlive the pipeline.
  Pipeline(const EngineOptions& options, FileSystem* fs, Gpu* gpu, ChunkPool* pool,
           const Clock* clock = &DefaultClock(), Liveness* liveness = nullptr);
  ~Pipeline();  // Stop(0) if not stopped

  // Queues a save whose slot is reserved and data file open.
  void Submit(std::shared_ptr<Checkpoint> ckpt);
  // Waits up to deadline_us for the saves in flight, cancels the rest, joins.
  void Stop(uint64_t deadline_us);
  int active() const;
  void Cancel(const std::shared_ptr<SaveHandle>& handle, const Status& why);
  std::vector<InflightInfo> Inflight() const;
  EngineCounters& counters() { return counters_; }
  std::vector<std::string> RecentErrors() const;
  // Bytes per second written to the store and copied out of the sources over
  // the last ~10 s (recent_rate.h).
  double RecentWriteRate() const;
  double RecentCopyRate() const;
  // Counts a save that failed before it entered the pipeline.
  void RecordFailure(const Status& s);
  // Counts a save refused with kBusy (skip, or coalesce with a full pool).
  void RecordSkipped(const SlotStore* store);
  // Reserves ckpt's slot (BeginSave with `policy`), opens and allocates its
  // data file. On failure the slot is free again and the status says why.
  Status PrepareSlot(Checkpoint& ckpt, Policy policy);

  // memory_tier.cc. Coalesce: ends coalesced every complete snapshot of
  // `store` whose writing has not begun (but kept ones and ones being
  // restored), so that a newer save can take their memory.
  void Supersede(const SlotStore* store);
  // Waits until every snapshot of `store` that waits for its write turn and
  // could be superseded has all its bytes in the pool; false when there was
  // none (only the disk can free memory then).
  bool AwaitCopying(const SlotStore* store);
  // Restores the newest complete snapshot of store newer than `durable` (or
  // exactly `step`) from its chunks in the pool, verified; false (touching no
  // destination) when there is none. When the newest one is being written it
  // waits for it to end and returns false: the caller then finds it
  // committed.
  bool RestoreSnapshot(const SlotStore* store, std::optional<uint64_t> step,
                       std::optional<uint64_t> durable,
                       const std::map<std::string, TensorDest>& dests, RestoreResult* out);
  // Fills newest_snapshot_step, lags and counters of p for store.
  void FillProgress(const SlotStore* store, TierProgress* p) const;
  // Restores `step` of `store` from the pool's resident copy of its newest
  // commit when that copy is still whole; returns false (and touches no
  // destination) when it is not, so the caller reads the disk instead.
  bool RestoreResident(const SlotStore* store, uint64_t step,
                       const std::map<std::string, TensorDest>& dests, RestoreResult* out);

 private:
  using WriteTask = ChunkTask;

  // Per store, the memory tier's queue: the save being written and the
  // complete (or copying) ones waiting for their turn, oldest first.
  struct StoreTier {
    std::shared_ptr<Checkpoint> writing;
    std::deque<std::shared_ptr<Checkpoint>> pending;
    bool starting = false;  // a turn is being prepared (slot, file) off the lock
    uint64_t committed = 0, coalesced = 0, skipped = 0;
  };

  void CopyLoop(Liveness::Worker live);
  void ChecksumLoop(Liveness::Worker live);
  // Waits for a chunk's copy (its fences) and counts it copied; false when
  // the copy failed.
  void AwaitCopy(ChunkTask& task);
  // memory_tier.cc: hands a gated save's checksummed chunk on: parked until
  // its turn, or to the writers.
  void ParkOrWrite(ChunkTask task);
  // Asks the turn thread to Advance(store): the slot and file work of a
  // turn never runs on the trainer's session thread nor on a writer.
  void RequestAdvance(const SlotStore* store);
  void TurnLoop(Liveness::Worker live);
  // Gives the write turn of store to its next save, if it is free: the
  // oldest kept one, else the newest; older ones end coalesced.
  void Advance(const SlotStore* store);
  // Ends a gated save that is not being written: out of its store's queue,
  // its parked chunks released.
  void DropWaiting(const std::shared_ptr<Checkpoint>& ckpt);
  // Supersede's work: ends the reclaimable saves coalesced, into *out.
  void Reclaim(const SlotStore* store, std::vector<std::shared_ptr<Checkpoint>>* out);
  void WriterLoop(Liveness::Worker live);
  void CommitLoop(Liveness::Worker live);
  // Copies chunk `index` of ckpt into buf; appends the fences to wait for.
  Status FillChunk(Checkpoint& ckpt, uint64_t index, uint8_t* buf, uint64_t len,
                   std::vector<Fence>* fences);
  // Returns once the trainer's ready event `e` completed, or the save was
  // cancelled or abandoned (the caller checks which).
  Status AwaitReady(Checkpoint& ckpt, const GpuEventRef& e, Liveness::Worker& live);
  // Records the save's snapshot-done events once its last copy is queued.
  void QueuedAll(Checkpoint& ckpt);
  // One chunk's copy ended (ok: its bytes arrived): progress, rates, and
  // snapshot done after the last.
  void CountCopied(Checkpoint& ckpt, uint64_t len, bool ok);
  void ChunkCopied(Checkpoint& ckpt, uint64_t n);
  void ChunkFinished(const std::shared_ptr<Checkpoint>& ckpt, uint64_t n);
  // Under mu_: c must wait in the commit queue for an older save of its store.
  bool MustCommitAfterOlder(const Checkpoint& c) const;
  void Finalize(const std::shared_ptr<Checkpoint>& ckpt);
  void Retire(const std::shared_ptr<Checkpoint>& ckpt, const Status& s);
  void NoteError(const Status& s);
  // After a commit: its chunks become the store's resident copy, replacing
  // the older one. After a failure: its chunks are plain free ones.
  void KeepResident(const std::shared_ptr<Checkpoint>& ckpt, bool committed);

  // The newest commit of a store whose bytes may still be in the pool.
  struct Resident {
    Manifest manifest;
    std::vector<ChunkRef> refs;
  };

  const EngineOptions options_;
  FileSystem* fs_;
  Gpu* gpu_;
  ChunkPool* pool_;
  const Clock* clock_;
  EngineCounters counters_;
  RecentRate write_rate_;
  RecentRate copy_rate_;

  mutable std::mutex mu_;
  std::condition_variable copy_cv_, write_cv_, commit_cv_, idle_cv_;
  std::deque<std::shared_ptr<Checkpoint>> copy_queue_;
  std::deque<WriteTask> write_queue_;
  std::deque<ChunkTask> check_queue_;
  std::condition_variable check_cv_, tier_cv_, turn_cv_;
  std::deque<const SlotStore*> turn_queue_;
  std::map<const SlotStore*, StoreTier> tiers_;
  std::deque<std::shared_ptr<Checkpoint>> commit_queue_;
  std::list<std::shared_ptr<Checkpoint>> active_;
  std::deque<std::string> recent_errors_;
  std::map<const SlotStore*, std::shared_ptr<const Resident>> resident_;
  bool stopping_ = false;
  std::atomic<bool> abandon_{false};
  std::vector<std::thread> threads_;
};

}  // namespace pccheck
