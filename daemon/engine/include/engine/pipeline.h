// Pipeline: the threads that move checkpoints from their sources to disk.
//
//   copy thread     one per engine; takes saves in arrival order and, chunk by
//                   chunk, takes a pool chunk (waiting when the pool is empty:
//                   backpressure) and fills it from the sources through Gpu
//   writer threads  wait for a chunk's copy, checksum it, write it with
//                   O_DIRECT at its offset, give the chunk back to the pool
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
  // Restores `step` of `store` from the pool's resident copy of its newest
  // commit when that copy is still whole; returns false (and touches no
  // destination) when it is not, so the caller reads the disk instead.
  bool RestoreResident(const SlotStore* store, uint64_t step,
                       const std::map<std::string, TensorDest>& dests, RestoreResult* out);

 private:
  struct WriteTask {
    std::shared_ptr<Checkpoint> ckpt;
    uint64_t index = 0;
    uint8_t* buf = nullptr;
    uint64_t len = 0;
    std::vector<Fence> fences;
    bool copied = false;  // counted as copied by the copy thread (no fences)
  };

  void CopyLoop(Liveness::Worker live);
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
  std::deque<std::shared_ptr<Checkpoint>> commit_queue_;
  std::list<std::shared_ptr<Checkpoint>> active_;
  std::deque<std::string> recent_errors_;
  std::map<const SlotStore*, std::shared_ptr<const Resident>> resident_;
  bool stopping_ = false;
  std::atomic<bool> abandon_{false};
  std::vector<std::thread> threads_;
};

}  // namespace pccheck
