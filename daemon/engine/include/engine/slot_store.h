// SlotStore: the checkpoints of one job and rank on disk (docs/format.md).
//
// The directory <root>/<job>/rank-<R>/ holds slot files slot-<K>.data and
// slot-<K>.manifest and the `latest` record. A store has max_inflight + 1
// slots, so the newest committed checkpoint is never overwritten while up to
// max_inflight newer ones are written.
//
// Retention (keep_every K > 0): a checkpoint whose step is a multiple of K is
// moved to kept/step-<020 S>.{data,manifest} when its slot is about to be
// reused, instead of being overwritten (retention.cc holds the protocol and
// its crash analysis). Kept checkpoints are never overwritten or removed by
// the store, only by PruneKept.
//
// Open() recovers: it removes *.tmp files and data files that have no
// manifest (incomplete saves), finishes or undoes a move to kept/ that a
// crash interrupted, never touches a slot with a valid manifest nor a valid
// kept checkpoint, and finds `latest` (falling back to the newest valid ring
// manifest when the record is missing or points at something invalid).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine_options.h"
#include "io/file_system.h"
#include "proto/manifest.h"
#include "store/store_paths.h"  // ValidateJobName

namespace pccheck {

class SlotStore {
 public:
  // One checkpoint: in a ring slot, or kept.
  struct SlotView {
    uint32_t slot = 0;  // the ring slot; 0 and meaningless for kept ones
    bool kept = false;  // in kept/ (DataPathOf and ManifestPathOf say where)
    bool committed = false;
    bool latest = false;
    uint64_t step = 0;                 // the manifest's; for a damaged kept one, its file name's
    std::string damage;                // non-empty: the manifest exists but does not validate
    std::optional<Manifest> manifest;  // set when committed
    uint32_t manifest_crc = 0;         // ManifestChecksum of the manifest read
  };

  // A kept checkpoint that PruneKept removed (or would remove).
  struct Pruned {
    uint64_t step = 0;
    uint64_t bytes = 0;  // data bytes; 0 for a damaged one
  };

  static Result<std::unique_ptr<SlotStore>> Open(FileSystem* fs, const std::string& root,
                                                 const std::string& job, uint32_t rank,
                                                 uint32_t min_slots, bool create,
                                                 bool read_only = false, uint64_t keep_every = 0);

  const std::string& job() const { return job_; }
  uint32_t rank() const { return rank_; }
  const std::string& dir() const { return dir_; }
  std::string DataPath(uint32_t slot) const;
  std::string ManifestPath(uint32_t slot) const;
  std::string LatestPath() const;
  std::string KeptDir() const;
  std::string KeptDataPath(uint64_t step) const;
  std::string KeptManifestPath(uint64_t step) const;
  std::string DataPathOf(const SlotView& v) const;
  std::string ManifestPathOf(const SlotView& v) const;

  // Admits a save of `step`: the step must be newer than the committed latest
  // (kInvalidArgument otherwise); at most max_inflight saves at once (with
  // kBlock it waits, with kSkip it fails with kBusy). On success a slot is
  // reserved for it: its old checkpoint is moved to kept/ when retention
  // keeps its step (the slot then has no data file: the caller creates a
  // fresh one), else its old manifest is removed; either durably, before the
  // caller may write its data. When the move fails the old checkpoint stays
  // where it is, listed and restorable, and the move is retried next time.
  Result<uint32_t> BeginSave(uint64_t step, int max_inflight, Policy policy);
  // Ends a save that did not commit; the slot becomes free.
  void AbandonSave(uint32_t slot);
  // Records that `slot` now durably holds `m` and, when make_latest, that the
  // `latest` record points at it. Ends the save.
  void FinishCommit(uint32_t slot, const Manifest& m, uint32_t manifest_crc, bool make_latest);

  // Serializes the switch of `latest` among concurrent commits.
  std::mutex& commit_mutex() { return commit_mu_; }
  std::optional<uint64_t> latest_step() const;
  int inflight() const;
  // Committed and damaged ring slots, newest step first (damaged last).
  std::vector<SlotView> Slots() const;
  // Kept checkpoints, newest first (damaged last).
  std::vector<SlotView> Kept() const;
  // Both: committed ones newest step first, then damaged ones.
  std::vector<SlotView> Checkpoints() const;

  // Removes the kept checkpoints beyond the newest `keep` (damaged ones
  // count by the step in their file name), never a ring slot; with dry_run
  // only says which. Each one's manifest goes first, so a crash midway leaves
  // at most a data file without a manifest, which recovery removes. On
  // failure, those already removed are gone and the rest are still listed.
  Result<std::vector<Pruned>> PruneKept(uint32_t keep, bool dry_run);

 private:
  enum class State { kFree, kInflight, kCommitted };
  struct Slot {
    State state = State::kFree;
    // kInflight while its checkpoint moves to kept/: still listed (with
    // manifest) until the move is done.
    bool retiring = false;
    std::optional<Manifest> manifest;
    uint32_t manifest_crc = 0;
    std::string damage;
  };
  struct KeptEntry {
    std::optional<Manifest> manifest;  // set when it validates and has data
    uint32_t manifest_crc = 0;
    std::string damage;
  };

  SlotStore(FileSystem* fs, std::string dir, std::string job, uint32_t rank, uint32_t slots,
            uint64_t keep_every);
  // Reads the slots, kept/ and `latest`; unless read_only, removes leftovers
  // of saves that never committed and settles interrupted moves to kept/.
  Status Recover(bool read_only);
  // A slot that is neither latest nor in flight: free ones first, then the
  // committed one with the oldest step. Requires mu_ held.
  std::optional<uint32_t> PickSlot() const;

  // retention.cc. LoadKept reads kept/ into kept_ and returns the steps of
  // data files there without a manifest. ReconcileKept settles them and ring
  // slots that a move left behind, never touching latest_record_slot.
  Result<std::vector<uint64_t>> LoadKept(bool read_only);
  Status ReconcileKept(bool read_only, const std::vector<uint64_t>& orphans,
                       std::optional<uint32_t> latest_record_slot);
  // Moves slot k's checkpoint (manifest m) to kept/, durably; idempotent
  // over a move that stopped midway.
  Status RetireToKept(uint32_t k, const Manifest& m);
  Status EnsureKeptDir();

  FileSystem* const fs_;
  const std::string dir_;
  const std::string job_;
  const uint32_t rank_;
  const uint64_t keep_every_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::mutex commit_mu_;
  std::vector<Slot> slots_;
  std::map<uint64_t, KeptEntry> kept_;  // by step; guarded by mu_
  // Serializes moves into kept/ and removals from it (file operations, not
  // held with mu_ except briefly inside).
  std::mutex kept_mu_;
  bool kept_dir_ready_ = false;  // kept/ exists and its entry is durable; guarded by kept_mu_
  std::optional<uint32_t> latest_slot_;
  int inflight_ = 0;
};

}  // namespace pccheck
