// SlotStore: the checkpoints of one job and rank on disk (docs/format.md).
//
// The directory <root>/<job>/rank-<R>/ holds slot files slot-<K>.data and
// slot-<K>.manifest and the `latest` record. A store has max_inflight + 1
// slots, so the newest committed checkpoint is never overwritten while up to
// max_inflight newer ones are written.
//
// Open() recovers: it removes *.tmp files and data files that have no
// manifest (incomplete saves), never touches a slot with a valid manifest,
// and finds `latest` (falling back to the newest valid manifest when the
// record is missing or points at something invalid).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
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
  struct SlotView {
    uint32_t slot = 0;
    bool committed = false;
    bool latest = false;
    std::string damage;       // non-empty: the manifest exists but does not validate
    std::optional<Manifest> manifest;  // set when committed
  };

  static Result<std::unique_ptr<SlotStore>> Open(FileSystem* fs, const std::string& root,
                                                 const std::string& job, uint32_t rank,
                                                 uint32_t min_slots, bool create,
                                                 bool read_only = false);

  const std::string& job() const { return job_; }
  uint32_t rank() const { return rank_; }
  const std::string& dir() const { return dir_; }
  std::string DataPath(uint32_t slot) const;
  std::string ManifestPath(uint32_t slot) const;
  std::string LatestPath() const;

  // Admits a save of `step`: the step must be newer than the committed latest
  // (kInvalidArgument otherwise); at most max_inflight saves at once (with
  // kBlock it waits, with kSkip it fails with kBusy). On success a slot is
  // reserved for it: its old manifest is removed and the removal made durable
  // before the caller may overwrite its data.
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
  // Committed and damaged slots, newest step first (damaged last).
  std::vector<SlotView> Slots() const;

 private:
  enum class State { kFree, kInflight, kCommitted };
  struct Slot {
    State state = State::kFree;
    std::optional<Manifest> manifest;
    uint32_t manifest_crc = 0;
    std::string damage;
  };

  SlotStore(FileSystem* fs, std::string dir, std::string job, uint32_t rank, uint32_t slots);
  // Reads the slots and `latest`; unless read_only, removes leftovers of
  // saves that never committed.
  Status Recover(bool read_only);
  // A slot that is neither latest nor in flight: free ones first, then the
  // committed one with the oldest step. Requires mu_ held.
  std::optional<uint32_t> PickSlot() const;

  FileSystem* const fs_;
  const std::string dir_;
  const std::string job_;
  const uint32_t rank_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::mutex commit_mu_;
  std::vector<Slot> slots_;
  std::optional<uint32_t> latest_slot_;
  int inflight_ = 0;
};

}  // namespace pccheck
