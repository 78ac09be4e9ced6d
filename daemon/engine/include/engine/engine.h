// Engine: concurrent, pipelined, crash-safe checkpoint persistence.
//
// A save copies its tensors chunk by chunk into page-locked pool chunks (one
// copy thread, through the Gpu seam), writer threads checksum each chunk and
// write it with O_DIRECT at its offset in a slot file, and the last writer
// commits (commit.h). Several checkpoints are in flight at once; the copy of
// one overlaps the writes of the ones before it.
//
// Thread-safety: every public method may be called from any thread.
// Lifetime: Shutdown (or the destructor) ends every save still in flight,
// either committed or failed with kAborted; callbacks never run after it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/liveness.h"
#include "base/status.h"
#include "engine/engine_options.h"
#include "gpu/gpu.h"
#include "io/file_system.h"
#include "proto/manifest.h"

namespace pccheck {

// Where a tensor's bytes are, in this process: host memory or a device pointer.
struct TensorSource {
  TensorEntry meta;  // name, dtype, shape, bytes; offset is assigned by the engine
  int device = kHostDevice;
  const void* data = nullptr;  // must stay valid and unchanged until snapshot done
};

// A CUDA event (opened by the daemon) tied to one device's copy stream.
struct GpuEventRef {
  int device = 0;
  void* event = nullptr;  // cudaEvent_t
};

struct SaveRequest {
  std::string job;
  uint32_t rank = 0;
  uint64_t step = 0;
  std::vector<TensorSource> tensors;
  std::string user_blob;
  // Device saves: the copy streams wait on these ("ready": the trainer's
  // state is final; the copy thread first watches them complete, so that a
  // cancelled save never leaves a stream waiting for good) before the first
  // copy, and record these ("snapshot done")
  // right after the last copy is queued (the last of record_after_copy after
  // its stream has waited on the others, so that one event alone covers the
  // copies of every device); then, if every record succeeded,
  // on_copies_queued runs (on the copy thread; it must not block). A stream
  // that waits on an event waits on its latest record, so the caller tells
  // the trainer only from on_copies_queued on. A save cancelled before all
  // its copies were queued never calls it.
  std::vector<GpuEventRef> wait_before_copy;
  std::vector<GpuEventRef> record_after_copy;
  std::function<void()> on_copies_queued;
};

// Progress and outcome of one save. Shared by the engine and the caller.
class SaveHandle {
 public:
  explicit SaveHandle(uint64_t step, uint64_t bytes) : step_(step), bytes_total_(bytes) {}

  uint64_t step() const { return step_; }
  uint64_t bytes_total() const { return bytes_total_; }
  uint64_t bytes_copied() const { return bytes_copied_.load(); }
  uint64_t bytes_written() const { return bytes_written_.load(); }

  // Snapshot done: every byte has left the sources; they may change now.
  bool snapshot_done() const;
  void WaitSnapshot() const;
  // Done: committed (ok), coalesced (ok, coalesced() true) or failed; the
  // status says which.
  bool done() const;
  // Ended coalesced: with the `coalesce` policy a newer snapshot of its job
  // and rank superseded it before its writing began, so it was never written
  // (not an error: the newer one is persisted instead).
  bool coalesced() const;
  Status Wait() const;
  // Waits up to timeout_us; returns false if not done by then.
  bool WaitFor(uint64_t timeout_us) const;
  Status status() const;

  // Called by the engine exactly once each; callbacks set before they happen
  // run on an engine thread, must not block, and must not call into the engine.
  void SetOnSnapshot(std::function<void()> cb);
  void SetOnDone(std::function<void(const Status&)> cb);

 private:
  friend class Engine;
  friend class Pipeline;
  void MarkSnapshot();
  void MarkDone(const Status& s, bool coalesced = false);
  void AddCopied(uint64_t n) { bytes_copied_ += n; }
  void AddWritten(uint64_t n) { bytes_written_ += n; }

  const uint64_t step_;
  const uint64_t bytes_total_;
  std::atomic<uint64_t> bytes_copied_{0};
  std::atomic<uint64_t> bytes_written_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool snapshot_ = false;
  bool done_ = false;
  bool coalesced_ = false;
  Status status_;
  std::function<void()> on_snapshot_;
  std::function<void(const Status&)> on_done_;
};

// One committed (or damaged) checkpoint in the store.
struct CheckpointInfo {
  std::string job;
  uint32_t rank = 0;
  uint64_t step = 0;  // 0 for a damaged ring slot (its manifest is unreadable)
  uint32_t slot = 0;  // the ring slot; 0 and meaningless when kept
  uint64_t bytes = 0;
  int64_t wall_time = 0;
  bool latest = false;
  bool kept = false;  // retained in kept/ (EngineOptions::keep_every), not in a ring slot
  // "committed", "damaged: <why>"; for a directory that cannot be read
  // (UnreadableDir) kUnreadableDirState and why, with step 0 (and rank 0 for
  // a job directory).
  std::string state;
};
inline constexpr const char* kUnreadableDirState = "damaged: unreadable directory: ";

// A job or rank directory that Engine::Open found it cannot read: none of
// its checkpoints is served, every other job and rank is.
struct UnreadableDir {
  std::string job;
  std::optional<uint32_t> rank;  // nullopt: the job directory itself cannot be listed
  std::string path;
  std::string why;  // the failure, naming the directory and what to do
};

// What Engine::Prune removes: kept checkpoints beyond the newest `keep` of
// each job and rank (of `job` and `rank` only, when set).
struct PruneRequest {
  uint32_t keep = 0;
  std::optional<std::string> job;
  std::optional<uint32_t> rank;
  bool dry_run = false;  // only say what would be removed
  // When set, only the jobs it accepts are pruned (a peer's own jobs).
  std::function<bool(const std::string& job)> job_filter;
};

struct PrunedInfo {
  std::string job;
  uint32_t rank = 0;
  uint64_t step = 0;
  uint64_t bytes = 0;
};

// Where restore puts a tensor: host memory or a device pointer.
struct TensorDest {
  int device = kHostDevice;
  void* data = nullptr;
  uint64_t bytes = 0;  // capacity; must equal the checkpoint's tensor size
};

struct RestoreResult {
  uint64_t step = 0;
  std::string user_blob;
  std::vector<TensorEntry> tensors;
  uint64_t bytes_read = 0;
  // "memory": from the daemon's pool, where the newest commit stays until
  // the pool needs the space; "disk": read from the store;
  // kSourceMemoryNotDurable: a complete snapshot in the pool that is newer
  // than anything committed (the memory tier; not on disk yet).
  std::string source = "disk";
  // Checkpoints skipped because they failed verification, with the reason.
  std::vector<std::string> skipped;
};

inline constexpr const char* kSourceMemoryNotDurable = "memory (not yet durable)";

// Per job and rank: how far the disk lags behind the snapshots in memory.
struct TierProgress {
  std::string job;
  uint32_t rank = 0;
  std::optional<uint64_t> newest_snapshot_step;  // complete in memory or durable
  std::optional<uint64_t> newest_durable_step;   // committed (latest)
  uint64_t durable_lag_steps = 0;                // newest snapshot - newest durable
  double durable_lag_s = 0;  // since the oldest complete snapshot newer than durable
  uint64_t committed = 0, coalesced = 0, skipped = 0;
};

// A save still in flight, for status displays.
struct InflightInfo {
  std::string job;
  uint32_t rank = 0;
  uint64_t step = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_copied = 0;
  uint64_t bytes_written = 0;
  bool snapshot_done = false;
  bool committing = false;  // every chunk written; the commit protocol runs
  double elapsed_s = 0;     // since the save entered the pipeline
};

// Where the pipeline's time went since the engine opened, in microseconds
// summed over the threads of each stage: the copy thread filling chunks and
// waiting for free ones (backpressure), writers waiting for a chunk's GPU
// copy, checksumming and writing, and the commit thread's protocol.
struct EngineProfile {
  uint64_t copy_us = 0;
  uint64_t pool_wait_us = 0;
  uint64_t fence_wait_us = 0;
  uint64_t crc_us = 0;
  uint64_t write_us = 0;
  uint64_t commit_us = 0;
  uint64_t commits = 0;
};

struct EngineStats {
  uint64_t pool_bytes_total = 0;
  uint64_t pool_bytes_free = 0;
  uint64_t chunk_bytes = 0;
  bool pool_locked = false;
  uint64_t saves_committed = 0;
  uint64_t saves_failed = 0;
  uint64_t saves_superseded = 0;
  uint64_t saves_coalesced = 0;  // coalesce policy: superseded before writing began
  uint64_t saves_skipped = 0;    // refused with kBusy (skip, or coalesce with a full pool)
  uint64_t bytes_written = 0;
  uint64_t bytes_copied = 0;
  // Bytes per second over the last ~10 s (0 when idle that long).
  double write_bytes_per_s_recent = 0;
  double copy_bytes_per_s_recent = 0;
  int inflight = 0;
  std::vector<std::string> recent_errors;  // newest last, at most 16
  EngineProfile profile;
};

class ChunkPool;
class Pipeline;
class SlotStore;

class Engine {
 public:
  // Opens the store root (creating it), recovers every job/rank store found in
  // it (incomplete slots cleaned, committed ones untouched), allocates the pool
  // and starts the threads. A job or rank directory that cannot be read or
  // recovered does not stop the others: it is logged and listed as
  // unreadable (Unreadable, List), and requests for it fail naming it. Fails
  // when the root itself cannot be listed. fs, gpu and clock must outlive the engine; so
  // must liveness, where the pipeline's threads report their progress (null:
  // not watched; see util/liveness.h).
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options, FileSystem* fs,
                                              Gpu* gpu, const Clock* clock = &DefaultClock(),
                                              Liveness* liveness = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts a save and returns its handle at once. Admission is by bytes and
  // decided here, so the copy never stalls midway: a snapshot that fits the
  // pool reserves all its chunks now (evicting resident copies, and with
  // `coalesce` first dropping snapshots of this job/rank that it supersedes
  // and whose writing has not begun). Fails fast when the request is
  // malformed, when the step is not newer than the committed latest, or with
  // kBusy (counted skipped) when `skip` finds the pool unable to take the
  // snapshot whole or max_inflight saves in flight. `block` and `coalesce`
  // wait for pool memory (before the copy); `block` also for a slot. A snapshot larger
  // than the whole pool streams through it (block, coalesce; skip refuses it):
  // it is persisted chunk by chunk and is no recovery point until committed.
  Result<std::shared_ptr<SaveHandle>> Save(SaveRequest request);

  // Restores `step` (or the newest committed checkpoint that verifies) into
  // dests, keyed by tensor name. Tensors absent from dests are read and
  // verified but not stored. Every chunk's checksum is verified; a damaged
  // checkpoint is never served: without an explicit step the next newest
  // committed one is tried and named in RestoreResult::skipped.
  Result<RestoreResult> Restore(const std::string& job, uint32_t rank, std::optional<uint64_t> step,
                                const std::map<std::string, TensorDest>& dests);

  // Re-reads a committed or kept checkpoint and checks every chunk: ok, or
  // kCorruption (damaged), kNotFound (no such step), kAborted (it was
  // superseded or pruned while being read: not damage; restore.h says when).
  // progress, when set, gets the bytes of each chunk checked, from reader
  // threads.
  Status Verify(const std::string& job, uint32_t rank, uint64_t step,
                const std::function<void(uint64_t)>& progress = {});

  // Removes kept checkpoints (never ring slots, never `latest`), oldest
  // first; returns them in job, rank, step order. InvalidArgument on a
  // read-only engine; NotFound when request.job names no job in the store.
  // On failure, those already removed stay removed (SlotStore::PruneKept).
  Result<std::vector<PrunedInfo>> Prune(const PruneRequest& request);

  // Who owns a job: the uid recorded in <root>/<job>/owner (docs/format.md),
  // nullopt when none is, because the job does not exist yet or was created
  // before owners were recorded. Corruption when the record is not one.
  Result<std::optional<uint32_t>> JobOwner(const std::string& job);
  // The job's owner after recording `uid` as it where none is recorded:
  // always for a job that does not exist yet, for an existing job (one
  // created before owners were recorded) only when `adopt` is true. The
  // record is durable before this returns. InvalidArgument on a read-only
  // engine.
  Result<std::optional<uint32_t>> ClaimJob(const std::string& job, uint32_t uid, bool adopt);

  // Abandons a save that has not started to commit: it fails with `why`,
  // its slot and chunks are returned. No effect on a save that has ended.
  void Cancel(const std::shared_ptr<SaveHandle>& handle, const Status& why);

  // Every checkpoint, and one entry per unreadable directory
  // (kUnreadableDirState).
  std::vector<CheckpointInfo> List();
  // The directories Open could not read, in job, rank order (a job directory
  // first), less those of ranks read since (a save or a restore opened them).
  std::vector<UnreadableDir> Unreadable();
  std::vector<InflightInfo> Inflight();
  // The newest committed step, if any.
  std::optional<uint64_t> LatestStep(const std::string& job, uint32_t rank);
  // Per job and rank known to the engine, in job, rank order.
  std::vector<TierProgress> Progress();
  EngineStats Stats();

  // Stops accepting saves, waits up to deadline_us for in-flight saves to
  // commit, abandons the rest (their slots stay uncommitted; latest is never
  // torn) and joins the threads. Idempotent.
  void Shutdown(uint64_t deadline_us = 30'000'000);

  const EngineOptions& options() const { return options_; }

 private:
  Engine(const EngineOptions& options, FileSystem* fs, Gpu* gpu, const Clock* clock);
  Result<SlotStore*> StoreFor(const std::string& job, uint32_t rank, bool create);
  // Records (and logs) a directory Open cannot read.
  void SetAside(const std::string& job, std::optional<uint32_t> rank, const std::string& path,
                const std::string& why);

  EngineOptions options_;
  FileSystem* fs_;
  Gpu* gpu_;
  const Clock* clock_;
  std::mutex mu_;
  std::map<std::pair<std::string, uint32_t>, std::unique_ptr<SlotStore>> stores_;
  std::mutex owners_mu_;                    // held while an owner is read or recorded
  std::map<std::string, uint32_t> owners_;  // recorded owners seen so far
  // What Open could not read, by job and rank (nullopt: the job directory).
  std::map<std::pair<std::string, std::optional<uint32_t>>, UnreadableDir> unreadable_;
  std::unique_ptr<ChunkPool> pool_;
  std::unique_ptr<Pipeline> pipeline_;  // destroyed before the pool and the stores
  bool shut_down_ = false;
  std::atomic<bool> closing_{false};  // wakes saves waiting for pool memory
};

}  // namespace pccheck
