#include "engine/slot_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "store/rank_scan.h"
#include "store/store_paths.h"

namespace pccheck {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Committed first, newest step first; damaged last. Stable: a ring slot
// comes before a kept checkpoint of the same step.
void SortViews(std::vector<SlotStore::SlotView>& views) {
  std::stable_sort(views.begin(), views.end(),
                   [](const SlotStore::SlotView& a, const SlotStore::SlotView& b) {
                     if (a.committed != b.committed) return a.committed;
                     return a.committed && a.step > b.step;
                   });
}

}  // namespace

SlotStore::SlotStore(FileSystem* fs, std::string dir, std::string job, uint32_t rank,
                     uint32_t slots, uint64_t keep_every)
    : fs_(fs),
      dir_(std::move(dir)),
      job_(std::move(job)),
      rank_(rank),
      keep_every_(keep_every),
      slots_(slots) {}

std::string SlotStore::DataPath(uint32_t slot) const { return SlotDataPath(dir_, slot); }
std::string SlotStore::ManifestPath(uint32_t slot) const { return SlotManifestPath(dir_, slot); }
std::string SlotStore::LatestPath() const { return pccheck::LatestPath(dir_); }

Result<std::unique_ptr<SlotStore>> SlotStore::Open(FileSystem* fs, const std::string& root,
                                                   const std::string& job, uint32_t rank,
                                                   uint32_t min_slots, bool create, bool read_only,
                                                   uint64_t keep_every) {
  PCC_RETURN_IF_ERROR(ValidateJobName(job));
  std::string dir = RankDir(root, job, rank);
  if (!fs->Exists(dir)) {
    if (!create)
      return Status::NotFound("no checkpoints for job " + job + " rank " + std::to_string(rank) +
                              " under " + root);
    PCC_RETURN_IF_ERROR(fs->CreateDirs(dir));
    PCC_RETURN_IF_ERROR(fs->SyncDir(JoinPath(root, job)));
    PCC_RETURN_IF_ERROR(fs->SyncDir(root));
  }
  auto store = std::unique_ptr<SlotStore>(new SlotStore(fs, dir, job, rank, min_slots, keep_every));
  PCC_RETURN_IF_ERROR(store->Recover(read_only));
  return store;
}

Status SlotStore::Recover(bool read_only) {
  PCC_ASSIGN_OR_RETURN(RankScan scan, ScanRank(fs_, dir_, job_, rank_));
  if (scan.slot_count > slots_.size()) slots_.resize(scan.slot_count);
  for (const auto& c : scan.ring) {
    Slot& slot = slots_[*c.slot];
    slot.state = State::kCommitted;
    slot.manifest = c.manifest;
    slot.manifest_crc = c.manifest_crc;
  }
  for (const auto& d : scan.damaged) {
    if (!d.slot) continue;  // under kept/: LoadKept reports it
    slots_[*d.slot].damage = d.why;
    spdlog::warn("{}: {}; the slot is not served and will be reused", d.path, d.why);
  }
  if (!scan.latest_problem.empty()) {
    spdlog::warn("{}: {}; falling back to the newest valid manifest", LatestPath(),
                 scan.latest_problem);
  }
  if (scan.latest) latest_slot_ = *scan.ring[*scan.latest].slot;

  // Settle moves to kept/ that a crash interrupted (retention.cc) before
  // anything else is cleaned: they decide which ring files are leftovers.
  PCC_ASSIGN_OR_RETURN(std::vector<uint64_t> orphans, LoadKept(read_only));
  PCC_RETURN_IF_ERROR(ReconcileKept(read_only, orphans, latest_slot_));
  if (read_only) return Status::Ok();

  // What a crash mid-save leaves: *.tmp files, and data files without a
  // manifest (saves that never committed).
  bool removed = false;
  for (const auto& e : scan.entries) {
    if (e.is_dir) continue;
    auto k = ParseSlotName(e.name, ".data");
    const bool orphan = k && slots_[*k].state != State::kCommitted && slots_[*k].damage.empty();
    if (!orphan && !EndsWith(e.name, ".tmp")) continue;
    if (!fs_->Exists(JoinPath(dir_, e.name))) continue;  // moved to kept/ just now
    PCC_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, e.name)));
    removed = true;
  }
  if (removed) PCC_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  return Status::Ok();
}

std::optional<uint32_t> SlotStore::PickSlot() const {
  std::optional<uint32_t> best;
  for (uint32_t k = 0; k < slots_.size(); ++k) {
    const Slot& s = slots_[k];
    if (s.state == State::kInflight || latest_slot_ == k) continue;
    if (s.state == State::kFree) return k;
    if (!best || s.manifest->step < slots_[*best].manifest->step) best = k;
  }
  return best;
}

Result<uint32_t> SlotStore::BeginSave(uint64_t step, int max_inflight, Policy policy) {
  uint32_t k;
  std::optional<Manifest> old;  // the checkpoint the slot held
  bool retire = false;
  {
    std::unique_lock lock(mu_);
    auto check_step = [&]() -> Status {
      if (latest_slot_ && slots_[*latest_slot_].manifest->step >= step) {
        return Status::InvalidArgument(
            "step " + std::to_string(step) + " is not newer than the latest committed step " +
            std::to_string(slots_[*latest_slot_].manifest->step) + " of job " + job_ + " rank " +
            std::to_string(rank_) + "; newest wins, so it could never become latest");
      }
      return Status::Ok();
    };
    PCC_RETURN_IF_ERROR(check_step());
    if (policy != Policy::kBlock && inflight_ >= max_inflight) {
      return Status::Busy("checkpoint of step " + std::to_string(step) +
                          " skipped: " + std::to_string(inflight_) + " saves of job " + job_ +
                          " rank " + std::to_string(rank_) +
                          " are in flight (max_inflight=" + std::to_string(max_inflight) + ")");
    }
    cv_.wait(lock, [&] { return inflight_ < max_inflight; });
    PCC_RETURN_IF_ERROR(check_step());
    // max_inflight + 1 slots: while fewer than max_inflight saves are in
    // flight, a slot other than latest is always free. Grow if the store was
    // created with fewer slots than today's setting needs.
    auto pick = PickSlot();
    if (!pick) {
      slots_.emplace_back();
      pick = static_cast<uint32_t>(slots_.size() - 1);
    }
    k = *pick;
    Slot& slot = slots_[k];
    if (slot.state == State::kCommitted) old = slot.manifest;
    retire = old && keep_every_ > 0 && old->step % keep_every_ == 0 && kept_.count(old->step) == 0;
    slot.state = State::kInflight;
    slot.retiring = retire;  // listed until the move is done
    if (!retire) slot.manifest.reset();
    slot.damage.clear();
    ++inflight_;
  }
  Status s;
  if (retire) {
    s = RetireToKept(k, *old);
    std::lock_guard lock(mu_);
    Slot& slot = slots_[k];
    slot.retiring = false;
    slot.manifest.reset();
    if (s.ok()) {
      kept_[old->step] = KeptEntry{old, slot.manifest_crc, ""};
      return k;
    }
    if (s.code() == Code::kCorruption) {
      // Its data is gone (removed behind our back): nothing left to keep.
      spdlog::error("{}; slot {} is reused without keeping it", s.ToString(), k);
      s = Status::Ok();
    } else {
      // Still here (or half moved, which readers and the next try handle).
      slot.state = State::kCommitted;
      slot.manifest = old;
      --inflight_;
      cv_.notify_all();
      return s.Annotate("keeping step " + std::to_string(old->step) + " of job " + job_ + " rank " +
                        std::to_string(rank_) + " in " + KeptDir() + " before reusing slot " +
                        std::to_string(k));
    }
  }
  // The old manifest goes first, durably: a power loss while the data is being
  // overwritten must not leave an old manifest over new bytes.
  if (fs_->Exists(ManifestPath(k))) {
    s = fs_->Remove(ManifestPath(k));
    if (s.ok()) s = fs_->SyncDir(dir_);
  }
  if (!s.ok()) {
    AbandonSave(k);
    return s.Annotate("recycling slot " + std::to_string(k));
  }
  return k;
}

void SlotStore::AbandonSave(uint32_t slot) {
  {
    std::lock_guard lock(mu_);
    slots_[slot].state = State::kFree;
    slots_[slot].manifest.reset();
    --inflight_;
  }
  cv_.notify_all();
}

void SlotStore::FinishCommit(uint32_t slot, const Manifest& m, uint32_t manifest_crc,
                             bool make_latest) {
  {
    std::lock_guard lock(mu_);
    slots_[slot].state = State::kCommitted;
    slots_[slot].manifest = m;
    slots_[slot].manifest_crc = manifest_crc;
    if (make_latest) latest_slot_ = slot;
    --inflight_;
  }
  cv_.notify_all();
}

std::optional<uint64_t> SlotStore::latest_step() const {
  std::lock_guard lock(mu_);
  if (!latest_slot_) return std::nullopt;
  return slots_[*latest_slot_].manifest->step;
}

int SlotStore::inflight() const {
  std::lock_guard lock(mu_);
  return inflight_;
}

std::vector<SlotStore::SlotView> SlotStore::Slots() const {
  std::lock_guard lock(mu_);
  std::vector<SlotView> out;
  for (uint32_t k = 0; k < slots_.size(); ++k) {
    const Slot& s = slots_[k];
    if (s.state == State::kCommitted || s.retiring) {
      out.push_back(
          {k, false, true, latest_slot_ == k, s.manifest->step, "", s.manifest, s.manifest_crc});
    } else if (!s.damage.empty()) {
      out.push_back({k, false, false, false, 0, s.damage, std::nullopt, 0});
    }
  }
  SortViews(out);
  return out;
}

std::vector<SlotStore::SlotView> SlotStore::Checkpoints() const {
  std::vector<SlotView> out = Slots();
  std::vector<SlotView> kept = Kept();
  out.insert(out.end(), std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  SortViews(out);
  return out;
}

}  // namespace pccheck
