// Retention: how a ring slot's checkpoint becomes a kept one, how kept ones
// are pruned, and how recovery settles a move that a crash interrupted.
//
// A kept checkpoint is the pair kept/step-<020 S>.manifest + .data. Moving
// slot K's checkpoint of step S there, before slot K is reused:
//
//   1. rename slot-K.data     -> kept/step-S.data
//   2. fsync(kept/), fsync(rank dir)
//   3. rename slot-K.manifest -> kept/step-S.manifest
//   4. fsync(kept/), fsync(rank dir)
//
// Only then may slot K get a new data file. A rename's new name is durable
// once its destination directory is synced, its removal once its source
// directory is, so each rename is synced destination first: after a power
// loss the file has at least one name, possibly two (identical content).
// Syncing between 1 and 3 means a manifest never moves before its data is
// durably in kept/. The states a crash can leave, and what recovery
// (ReconcileKept) does with each:
//
//   ring {m, d}                 before 1: nothing to do
//   ring {m, d}, kept {d}       1 durable only in kept/: the kept data is a
//                               second name of the ring's; removed (undone)
//   ring {m},    kept {d}       between 2 and 3: the manifest follows (redone)
//   ring {m},    kept {m, d}    3 durable only in kept/: the ring manifest is
//                               removed (done), unless `latest` names it
//   kept {m, d}                 done
//
// The committed checkpoint is complete under one of its names in every
// state, `latest` never names slot K (the latest slot is never reused), and
// nothing that recovery removes is the last copy of anything.
//
// Pruning removes kept/step-S.manifest of each victim, syncs kept/, then
// removes the data files and syncs again: a crash leaves data files without
// a manifest, which no ring manifest claims either; recovery removes them.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "base/crc32c.h"
#include "engine/slot_store.h"
#include "store/store_paths.h"

namespace pccheck {

std::string SlotStore::KeptDir() const { return pccheck::KeptDir(dir_); }

std::string SlotStore::KeptDataPath(uint64_t step) const {
  return pccheck::KeptDataPath(dir_, step);
}

std::string SlotStore::KeptManifestPath(uint64_t step) const {
  return pccheck::KeptManifestPath(dir_, step);
}

std::string SlotStore::DataPathOf(const SlotView& v) const {
  return v.kept ? KeptDataPath(v.step) : DataPath(v.slot);
}

std::string SlotStore::ManifestPathOf(const SlotView& v) const {
  return v.kept ? KeptManifestPath(v.step) : ManifestPath(v.slot);
}

Result<std::vector<uint64_t>> SlotStore::LoadKept(bool read_only) {
  const std::string dir = KeptDir();
  if (!fs_->Exists(dir)) return std::vector<uint64_t>{};
  // Its entry is durable: nothing is moved into it before that (EnsureKeptDir).
  kept_dir_ready_ = !read_only;
  PCC_ASSIGN_OR_RETURN(auto entries, fs_->List(dir));
  std::vector<uint64_t> data_steps;
  std::vector<uint64_t> manifest_steps;
  bool removed = false;
  for (const auto& e : entries) {
    if (e.is_dir) continue;
    if (e.name.size() > 4 && e.name.compare(e.name.size() - 4, 4, ".tmp") == 0) {
      if (read_only) continue;
      PCC_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir, e.name)));
      removed = true;
    } else if (auto s = ParseKeptName(e.name, ".data")) {
      data_steps.push_back(*s);
    } else if (auto m = ParseKeptName(e.name, ".manifest")) {
      manifest_steps.push_back(*m);
    }
  }
  if (removed) PCC_RETURN_IF_ERROR(fs_->SyncDir(dir));
  std::sort(data_steps.begin(), data_steps.end());
  for (uint64_t step : manifest_steps) {
    KeptEntry entry;
    const std::string path = KeptManifestPath(step);
    auto bytes = fs_->ReadStoreFile(path, kMaxManifestBytes);
    auto m = bytes.ok() ? DecodeManifest(bytes.value()) : Result<Manifest>(bytes.status());
    // The slot field is where the checkpoint was in the ring: not checked.
    if (m.ok() && (m->job != job_ || m->rank != rank_ || m->step != step)) {
      m = Status::Corruption("manifest belongs to job " + m->job + " rank " +
                             std::to_string(m->rank) + " step " + std::to_string(m->step));
    }
    if (m.ok() && !std::binary_search(data_steps.begin(), data_steps.end(), step)) {
      m = Status::Corruption(KeptDataPath(step) + " is missing");
    }
    if (m.ok()) {
      entry.manifest = std::move(m).value();
      entry.manifest_crc = ManifestChecksum(bytes.value());
    } else {
      entry.damage = m.status().message();
      spdlog::warn("{}: {}; this kept checkpoint is not served", path, entry.damage);
    }
    kept_[step] = std::move(entry);
  }
  std::vector<uint64_t> orphans;
  for (uint64_t step : data_steps) {
    if (kept_.count(step) == 0) orphans.push_back(step);
  }
  return orphans;
}

Status SlotStore::ReconcileKept(bool read_only, const std::vector<uint64_t>& orphans,
                                std::optional<uint32_t> latest_record_slot) {
  bool ring_changed = false, kept_changed = false;
  // Moved, but the ring's manifest is still there too: the move is done.
  for (uint32_t k = 0; k < slots_.size(); ++k) {
    Slot& slot = slots_[k];
    if (slot.state != State::kCommitted || latest_record_slot == k) continue;
    auto it = kept_.find(slot.manifest->step);
    if (it == kept_.end() || !it->second.manifest || it->second.manifest_crc != slot.manifest_crc) {
      continue;
    }
    if (!read_only) {
      PCC_RETURN_IF_ERROR(fs_->Remove(ManifestPath(k)));
      ring_changed = true;  // its data, if any, goes as data without a manifest
    }
    slot.state = State::kFree;
    slot.manifest.reset();
  }
  // Kept data without a manifest.
  for (uint64_t step : orphans) {
    std::optional<uint32_t> owner;
    for (uint32_t k = 0; k < slots_.size(); ++k) {
      if (slots_[k].state == State::kCommitted && slots_[k].manifest->step == step) owner = k;
    }
    if (read_only) continue;  // a ring view falls back to the kept data (restore.cc)
    if (owner && !fs_->Exists(DataPath(*owner))) {
      // The data moved, the manifest had not: move it now.
      Slot& slot = slots_[*owner];
      PCC_RETURN_IF_ERROR(fs_->Rename(ManifestPath(*owner), KeptManifestPath(step)));
      PCC_RETURN_IF_ERROR(fs_->SyncDir(KeptDir()));
      PCC_RETURN_IF_ERROR(fs_->SyncDir(dir_));
      kept_[step] = KeptEntry{slot.manifest, slot.manifest_crc, ""};
      slot.state = State::kFree;
      slot.manifest.reset();
      spdlog::info("{}: finished keeping step {} (interrupted by a crash)", dir_, step);
      continue;
    }
    // A second name of the ring's data, or what an interrupted prune left.
    PCC_RETURN_IF_ERROR(fs_->Remove(KeptDataPath(step)));
    kept_changed = true;
  }
  if (kept_changed) PCC_RETURN_IF_ERROR(fs_->SyncDir(KeptDir()));
  if (ring_changed) PCC_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  return Status::Ok();
}

Status SlotStore::EnsureKeptDir() {
  if (kept_dir_ready_) return Status::Ok();
  PCC_RETURN_IF_ERROR(fs_->CreateDirs(KeptDir()));
  PCC_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  kept_dir_ready_ = true;
  return Status::Ok();
}

Status SlotStore::RetireToKept(uint32_t k, const Manifest& m) {
  std::lock_guard kept_lock(kept_mu_);
  PCC_RETURN_IF_ERROR(EnsureKeptDir());
  const std::string kept_data = KeptDataPath(m.step);
  if (fs_->Exists(DataPath(k))) {
    PCC_RETURN_IF_ERROR(fs_->Rename(DataPath(k), kept_data));
  } else if (!fs_->Exists(kept_data)) {
    return Status::Corruption("the data of step " + std::to_string(m.step) + " is neither at " +
                              DataPath(k) + " nor at " + kept_data);
  }
  PCC_RETURN_IF_ERROR(fs_->SyncDir(KeptDir()));
  PCC_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  if (fs_->Exists(ManifestPath(k))) {
    PCC_RETURN_IF_ERROR(fs_->Rename(ManifestPath(k), KeptManifestPath(m.step)));
  }
  PCC_RETURN_IF_ERROR(fs_->SyncDir(KeptDir()));
  PCC_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  spdlog::debug("{}: kept step {} (from slot {})", dir_, m.step, k);
  return Status::Ok();
}

std::vector<SlotStore::SlotView> SlotStore::Kept() const {
  std::lock_guard lock(mu_);
  std::vector<SlotView> out;
  for (auto it = kept_.rbegin(); it != kept_.rend(); ++it) {
    const KeptEntry& e = it->second;
    SlotView v;
    v.kept = true;
    v.step = it->first;
    v.committed = e.manifest.has_value();
    v.damage = e.damage;
    v.manifest = e.manifest;
    v.manifest_crc = e.manifest_crc;
    out.push_back(std::move(v));
  }
  std::stable_partition(out.begin(), out.end(), [](const SlotView& v) { return v.committed; });
  return out;
}

Result<std::vector<SlotStore::Pruned>> SlotStore::PruneKept(uint32_t keep, bool dry_run) {
  std::lock_guard kept_lock(kept_mu_);
  std::vector<Pruned> victims;
  {
    std::lock_guard lock(mu_);
    uint32_t seen = 0;
    for (auto it = kept_.rbegin(); it != kept_.rend(); ++it) {
      if (seen++ < keep) continue;
      victims.push_back({it->first, it->second.manifest ? it->second.manifest->data_bytes : 0});
    }
  }
  std::reverse(victims.begin(), victims.end());  // oldest first
  if (dry_run || victims.empty()) return victims;

  std::vector<Pruned> removed;
  Status failed;
  for (const Pruned& v : victims) {
    // Unlisted first: a reader that already has it fails as "pruned while
    // being read" (restore.cc), never as damage.
    std::optional<KeptEntry> entry;
    {
      std::lock_guard lock(mu_);
      auto it = kept_.find(v.step);
      if (it == kept_.end()) continue;
      entry = std::move(it->second);
      kept_.erase(it);
    }
    Status s = fs_->Exists(KeptManifestPath(v.step)) ? fs_->Remove(KeptManifestPath(v.step))
                                                     : Status::Ok();
    if (!s.ok()) {
      std::lock_guard lock(mu_);
      kept_[v.step] = std::move(*entry);
      failed = s.Annotate("pruning step " + std::to_string(v.step) + " of job " + job_ + " rank " +
                          std::to_string(rank_));
      break;
    }
    removed.push_back(v);
  }
  if (!removed.empty()) {
    PCC_RETURN_IF_ERROR(fs_->SyncDir(KeptDir()).Annotate("making the pruning durable"));
    for (const Pruned& v : removed) {
      if (!fs_->Exists(KeptDataPath(v.step))) continue;
      Status s = fs_->Remove(KeptDataPath(v.step));
      // Its manifest is durably gone: recovery removes the data file later.
      if (!s.ok()) spdlog::warn("{}; recovery will remove it", s.ToString());
    }
    PCC_RETURN_IF_ERROR(fs_->SyncDir(KeptDir()).Annotate("making the pruning durable"));
  }
  if (!failed.ok()) return failed;
  return removed;
}

}  // namespace pccheck
