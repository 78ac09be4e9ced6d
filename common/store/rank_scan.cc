#include "store/rank_scan.h"

#include <algorithm>

#include "store/store_paths.h"

namespace pccheck {

namespace {

// Reads and decodes the manifest at `path`. nullopt when the file is gone (a
// slot being recycled) or damaged (recorded in *damaged, with the reason). A
// manifest that names another job, rank, slot or step than its path says is
// damage, like a bad checksum; so is a file that cannot be read.
std::optional<StoredCheckpoint> ReadManifestAt(FileSystem* fs, const std::string& path,
                                               const std::string& job, uint32_t rank,
                                               std::optional<uint32_t> slot,
                                               std::optional<uint64_t> kept_step,
                                               std::vector<DamagedManifest>* damaged) {
  auto bytes = fs->ReadStoreFile(path, kMaxManifestBytes);
  if (!bytes.ok() && bytes.status().code() == Code::kNotFound) return std::nullopt;
  auto m = bytes.ok() ? DecodeManifest(bytes.value()) : Result<Manifest>(bytes.status());
  if (m.ok() && (m->job != job || m->rank != rank || (slot && m->slot != *slot) ||
                 (kept_step && m->step != *kept_step))) {
    m = Status::Corruption("manifest belongs to job " + m->job + " rank " +
                           std::to_string(m->rank) + (slot ? " slot " : " step ") +
                           std::to_string(slot ? m->slot : m->step));
  }
  if (!m.ok()) {
    damaged->push_back({path, slot, m.status().message()});
    return std::nullopt;
  }
  StoredCheckpoint c;
  c.manifest_crc = ManifestChecksum(bytes.value());
  c.manifest = std::move(m).value();
  c.manifest_path = path;
  c.slot = slot;
  return c;
}

Status ScanRing(FileSystem* fs, const std::string& dir, const std::string& job, uint32_t rank,
                RankScan* scan) {
  PCC_ASSIGN_OR_RETURN(scan->entries, fs->List(dir));
  std::vector<uint32_t> manifests;
  for (const auto& e : scan->entries) {
    if (e.is_dir) continue;
    auto k = ParseSlotName(e.name, ".manifest");
    if (k) manifests.push_back(*k);
    if (!k) k = ParseSlotName(e.name, ".data");
    if (k) scan->slot_count = std::max(scan->slot_count, *k + 1);
  }
  std::sort(manifests.begin(), manifests.end());
  for (uint32_t k : manifests) {
    auto c =
        ReadManifestAt(fs, SlotManifestPath(dir, k), job, rank, k, std::nullopt, &scan->damaged);
    if (!c) continue;
    c->data_path = SlotDataPath(dir, k);
    scan->ring.push_back(std::move(*c));
  }
  return Status::Ok();
}

Status ScanKept(FileSystem* fs, const std::string& dir, const std::string& job, uint32_t rank,
                RankScan* scan) {
  const std::string kept_dir = KeptDir(dir);
  if (!fs->Exists(kept_dir)) return Status::Ok();
  PCC_ASSIGN_OR_RETURN(auto entries, fs->List(kept_dir));
  std::vector<uint64_t> steps;
  for (const auto& e : entries) {
    if (auto s = ParseKeptName(e.name, ".manifest"); s && !e.is_dir) steps.push_back(*s);
  }
  std::sort(steps.begin(), steps.end());
  for (uint64_t s : steps) {
    auto c =
        ReadManifestAt(fs, KeptManifestPath(dir, s), job, rank, std::nullopt, s, &scan->damaged);
    if (!c) continue;
    c->data_path = KeptDataPath(dir, s);
    scan->kept.push_back(std::move(*c));
  }
  return Status::Ok();
}

// The `latest` record, followed when it names a committed slot holding its
// step and checksum; else the newest committed ring slot.
void FindLatest(FileSystem* fs, const std::string& dir, RankScan* scan) {
  const std::string path = LatestPath(dir);
  auto bytes = fs->ReadStoreFile(path, kLatestRecordBytes);
  if (bytes.ok() || bytes.status().code() != Code::kNotFound) {
    auto rec = bytes.ok() ? DecodeLatest(bytes.value()) : Result<LatestRecord>(bytes.status());
    for (size_t i = 0; rec.ok() && i < scan->ring.size(); ++i) {
      const StoredCheckpoint& c = scan->ring[i];
      if (*c.slot == rec->slot && c.manifest_crc == rec->manifest_crc &&
          c.manifest.step == rec->step) {
        scan->latest = i;
      }
    }
    if (!scan->latest) {
      scan->latest_problem =
          rec.ok() ? "points at a slot that does not hold that checkpoint" : rec.status().message();
    }
  }
  if (!scan->latest) {
    for (size_t i = 0; i < scan->ring.size(); ++i) {
      if (!scan->latest || scan->ring[i].manifest.step > scan->ring[*scan->latest].manifest.step) {
        scan->latest = i;
      }
    }
  }
  if (scan->latest) scan->ring[*scan->latest].latest = true;
}

}  // namespace

Result<RankScan> ScanRank(FileSystem* fs, const std::string& dir, const std::string& job,
                          uint32_t rank) {
  RankScan scan;
  Status s = ScanRing(fs, dir, job, rank, &scan);
  if (s.ok()) s = ScanKept(fs, dir, job, rank, &scan);
  if (!s.ok()) {
    return Status(s.code(), "the checkpoints of job " + job + " rank " + std::to_string(rank) +
                                " in " + dir + " cannot be read (" + s.message() +
                                "): make the directory readable, or repair it (it holds "
                                "slot-<K>.manifest, slot-<K>.data, latest and the directory "
                                "kept/) or move it out of the store");
  }
  FindLatest(fs, dir, &scan);
  return scan;
}

std::vector<const StoredCheckpoint*> NewestFirst(const RankScan& scan) {
  std::vector<const StoredCheckpoint*> out;
  for (const auto& c : scan.ring) out.push_back(&c);
  for (const auto& c : scan.kept) out.push_back(&c);
  std::stable_sort(out.begin(), out.end(),
                   [](const StoredCheckpoint* a, const StoredCheckpoint* b) {
                     if (a->latest != b->latest) return a->latest;
                     return a->manifest.step > b->manifest.step;
                   });
  return out;
}

bool StillStored(FileSystem* fs, const StoredCheckpoint& c) {
  auto bytes = fs->ReadStoreFile(c.manifest_path, kMaxManifestBytes);
  return bytes.ok() && ManifestChecksum(bytes.value()) == c.manifest_crc;
}

}  // namespace pccheck
