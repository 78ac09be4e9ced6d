#include "engine/slot_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "store/rank_scan.h"
#include "store/store_paths.h"

namespace pccheck {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

SlotStore::SlotStore(FileSystem* fs, std::string dir, std::string job, uint32_t rank,
                     uint32_t slots)
    : fs_(fs), dir_(std::move(dir)), job_(std::move(job)), rank_(rank), slots_(slots) {}

std::string SlotStore::DataPath(uint32_t slot) const { return SlotDataPath(dir_, slot); }
std::string SlotStore::ManifestPath(uint32_t slot) const { return SlotManifestPath(dir_, slot); }
std::string SlotStore::LatestPath() const { return pccheck::LatestPath(dir_); }

Result<std::unique_ptr<SlotStore>> SlotStore::Open(FileSystem* fs, const std::string& root,
                                                   const std::string& job, uint32_t rank,
                                                   uint32_t min_slots, bool create,
                                                   bool read_only) {
  PCC_RETURN_IF_ERROR(ValidateJobName(job));
  std::string dir = RankDir(root, job, rank);
  if (!fs->Exists(dir)) {
    if (!create) return Status::NotFound("no checkpoints for job " + job + " rank " +
                                         std::to_string(rank) + " under " + root);
    PCC_RETURN_IF_ERROR(fs->CreateDirs(dir));
    PCC_RETURN_IF_ERROR(fs->SyncDir(JoinPath(root, job)));
    PCC_RETURN_IF_ERROR(fs->SyncDir(root));
  }
  auto store = std::unique_ptr<SlotStore>(new SlotStore(fs, dir, job, rank, min_slots));
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
    if (!d.slot) continue;  // under kept/: not a ring slot
    slots_[*d.slot].damage = d.why;
    spdlog::warn("{}: {}; the slot is not served and will be reused", d.path, d.why);
  }
  if (!scan.latest_problem.empty()) {
    spdlog::warn("{}: {}; falling back to the newest valid manifest", LatestPath(),
                 scan.latest_problem);
  }
  if (scan.latest) latest_slot_ = *scan.ring[*scan.latest].slot;
  if (read_only) return Status::Ok();

  // What a crash mid-save leaves: *.tmp files, and data files without a
  // manifest (saves that never committed).
  bool removed = false;
  for (const auto& e : scan.entries) {
    if (e.is_dir) continue;
    auto k = ParseSlotName(e.name, ".data");
    const bool orphan =
        k && slots_[*k].state != State::kCommitted && slots_[*k].damage.empty();
    if (!orphan && !EndsWith(e.name, ".tmp")) continue;
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
    if (policy == Policy::kSkip && inflight_ >= max_inflight) {
      return Status::Busy("checkpoint of step " + std::to_string(step) + " skipped: " +
                          std::to_string(inflight_) + " saves of job " + job_ + " rank " +
                          std::to_string(rank_) + " are in flight (max_inflight=" +
                          std::to_string(max_inflight) + ")");
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
    slots_[k].state = State::kInflight;
    slots_[k].manifest.reset();
    slots_[k].damage.clear();
    ++inflight_;
  }
  // The old manifest goes first, durably: a power loss while the data is being
  // overwritten must not leave an old manifest over new bytes.
  Status s;
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
    if (s.state == State::kCommitted) {
      out.push_back({k, true, latest_slot_ == k, "", s.manifest});
    } else if (!s.damage.empty()) {
      out.push_back({k, false, false, s.damage, std::nullopt});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const SlotView& a, const SlotView& b) {
    if (a.committed != b.committed) return a.committed;
    return a.committed && a.manifest->step > b.manifest->step;
  });
  return out;
}

}  // namespace pccheck
