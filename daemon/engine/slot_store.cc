#include "engine/slot_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "proto/crc32c.h"

namespace pccheck {

namespace {

// Parses "slot-<K>.<suffix>"; returns K.
std::optional<uint32_t> ParseSlotName(const std::string& name, const std::string& suffix) {
  const std::string prefix = "slot-";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  uint32_t k = 0;
  const char* b = name.data() + prefix.size();
  const char* e = name.data() + name.size() - suffix.size();
  auto [p, ec] = std::from_chars(b, e, k);
  if (ec != std::errc() || p != e || k > 4096) return std::nullopt;
  return k;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
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

Status ValidateJobName(const std::string& job) {
  bool ok = !job.empty() && job.size() <= 128 && job[0] != '.';
  for (char c : job) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return Status::InvalidArgument("job name '" + job +
                                   "' is not 1-128 characters of letters, digits, '.', '_' or '-' "
                                   "(not starting with '.')");
  }
  return Status::Ok();
}

SlotStore::SlotStore(FileSystem* fs, std::string dir, std::string job, uint32_t rank,
                     uint32_t slots, uint64_t keep_every)
    : fs_(fs),
      dir_(std::move(dir)),
      job_(std::move(job)),
      rank_(rank),
      keep_every_(keep_every),
      slots_(slots) {}

std::string SlotStore::DataPath(uint32_t slot) const {
  return JoinPath(dir_, "slot-" + std::to_string(slot) + ".data");
}
std::string SlotStore::ManifestPath(uint32_t slot) const {
  return JoinPath(dir_, "slot-" + std::to_string(slot) + ".manifest");
}
std::string SlotStore::LatestPath() const { return JoinPath(dir_, "latest"); }

Result<std::unique_ptr<SlotStore>> SlotStore::Open(FileSystem* fs, const std::string& root,
                                                   const std::string& job, uint32_t rank,
                                                   uint32_t min_slots, bool create, bool read_only,
                                                   uint64_t keep_every) {
  PCC_RETURN_IF_ERROR(ValidateJobName(job));
  std::string dir = JoinPath(JoinPath(root, job), "rank-" + std::to_string(rank));
  if (!fs->Exists(dir)) {
    if (!create) return Status::NotFound("no checkpoints for job " + job + " rank " +
                                         std::to_string(rank) + " under " + root);
    PCC_RETURN_IF_ERROR(fs->CreateDirs(dir));
    PCC_RETURN_IF_ERROR(fs->SyncDir(JoinPath(root, job)));
    PCC_RETURN_IF_ERROR(fs->SyncDir(root));
  }
  auto store = std::unique_ptr<SlotStore>(new SlotStore(fs, dir, job, rank, min_slots, keep_every));
  PCC_RETURN_IF_ERROR(store->Recover(read_only));
  return store;
}

Status SlotStore::Recover(bool read_only) {
  PCC_ASSIGN_OR_RETURN(auto entries, fs_->List(dir_));
  bool removed = false;
  std::vector<uint32_t> data_slots;
  for (const auto& e : entries) {
    if (e.is_dir) continue;
    if (EndsWith(e.name, ".tmp")) {
      if (read_only) continue;
      PCC_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, e.name)));
      removed = true;
      continue;
    }
    auto k = ParseSlotName(e.name, ".manifest");
    if (!k) k = ParseSlotName(e.name, ".data");
    if (k && *k >= slots_.size()) slots_.resize(*k + 1);
    if (auto d = ParseSlotName(e.name, ".data")) data_slots.push_back(*d);
  }
  for (uint32_t k = 0; k < slots_.size(); ++k) {
    Slot& slot = slots_[k];
    std::string path = ManifestPath(k);
    if (!fs_->Exists(path)) continue;
    auto bytes = fs_->ReadWholeFile(path);
    if (!bytes.ok()) {
      slot.damage = bytes.status().message();
      continue;
    }
    auto m = DecodeManifest(bytes.value());
    if (m.ok() && (m->job != job_ || m->rank != rank_ || m->slot != k)) {
      m = Status::Corruption("manifest belongs to job " + m->job + " rank " +
                             std::to_string(m->rank) + " slot " + std::to_string(m->slot));
    }
    if (!m.ok()) {
      slot.damage = m.status().message();
      spdlog::warn("{}: {}; the slot is not served and will be reused", path, slot.damage);
      continue;
    }
    slot.state = State::kCommitted;
    slot.manifest = std::move(m).value();
    slot.manifest_crc = ManifestChecksum(bytes.value());
  }
  PCC_ASSIGN_OR_RETURN(std::vector<uint64_t> orphans, LoadKept(read_only));
  std::optional<LatestRecord> record;
  Status record_status;
  if (fs_->Exists(LatestPath())) {
    auto bytes = fs_->ReadWholeFile(LatestPath());
    auto rec = bytes.ok() ? DecodeLatest(bytes.value()) : Result<LatestRecord>(bytes.status());
    if (rec.ok()) {
      record = rec.value();
    } else {
      record_status = rec.status();
    }
  }
  PCC_RETURN_IF_ERROR(ReconcileKept(read_only, orphans,
                                    record ? std::optional<uint32_t>(record->slot) : std::nullopt));

  // A data file without a manifest is a save that never committed.
  for (uint32_t k : data_slots) {
    if (slots_[k].state == State::kCommitted || !slots_[k].damage.empty() || read_only) continue;
    PCC_RETURN_IF_ERROR(fs_->Remove(DataPath(k)));
    removed = true;
  }
  if (removed) PCC_RETURN_IF_ERROR(fs_->SyncDir(dir_));

  if (record) {
    const LatestRecord& rec = *record;
    if (rec.slot < slots_.size() && slots_[rec.slot].state == State::kCommitted &&
        slots_[rec.slot].manifest_crc == rec.manifest_crc &&
        slots_[rec.slot].manifest->step == rec.step) {
      latest_slot_ = rec.slot;
    } else {
      spdlog::warn(
          "{}: points at a slot that does not hold that checkpoint; falling back to the "
          "newest valid manifest",
          LatestPath());
    }
  } else if (!record_status.ok()) {
    spdlog::warn("{}: {}; falling back to the newest valid manifest", LatestPath(),
                 record_status.message());
  }
  if (!latest_slot_) {
    for (uint32_t k = 0; k < slots_.size(); ++k) {
      if (slots_[k].state != State::kCommitted) continue;
      if (!latest_slot_ || slots_[k].manifest->step > slots_[*latest_slot_].manifest->step) {
        latest_slot_ = k;
      }
    }
  }
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
