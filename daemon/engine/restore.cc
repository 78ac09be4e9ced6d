#include "engine/restore.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "proto/crc32c.h"

namespace pccheck {

namespace {

Status CheckDests(const Manifest& m, const std::map<std::string, TensorDest>& dests) {
  for (const auto& [name, d] : dests) {
    auto it = std::find_if(m.tensors.begin(), m.tensors.end(),
                           [&](const TensorEntry& t) { return t.name == name; });
    if (it == m.tensors.end()) {
      return Status::NotFound("tensor '" + name + "' is not in the checkpoint of step " +
                              std::to_string(m.step));
    }
    if (it->bytes != d.bytes) {
      return Status::InvalidArgument("tensor '" + name + "' holds " + std::to_string(it->bytes) +
                                     " bytes in step " + std::to_string(m.step) +
                                     " but its destination has " + std::to_string(d.bytes));
    }
    if (d.bytes > 0 && d.data == nullptr) {
      return Status::InvalidArgument("tensor '" + name + "' has no destination buffer");
    }
  }
  return Status::Ok();
}

// Copies the part of chunk [start, start+len) that belongs to each wanted tensor.
Status Scatter(Gpu* gpu, const Manifest& m, const std::map<std::string, TensorDest>& dests,
               const uint8_t* buf, uint64_t start, uint64_t len) {
  auto it = std::partition_point(m.tensors.begin(), m.tensors.end(), [&](const TensorEntry& t) {
    return t.offset + t.bytes <= start;
  });
  std::vector<int> devices;
  for (; it != m.tensors.end() && it->offset < start + len; ++it) {
    auto d = dests.find(it->name);
    if (d == dests.end()) continue;
    const uint64_t from = std::max(start, it->offset);
    const uint64_t to = std::min(start + len, it->offset + it->bytes);
    if (from >= to) continue;
    uint8_t* dst = static_cast<uint8_t*>(d->second.data) + (from - it->offset);
    if (d->second.device == kHostDevice) {
      std::memcpy(dst, buf + (from - start), to - from);
    } else {
      PCC_RETURN_IF_ERROR(gpu->CopyToDevice(d->second.device, dst, buf + (from - start), to - from));
      if (std::find(devices.begin(), devices.end(), d->second.device) == devices.end()) {
        devices.push_back(d->second.device);
      }
    }
  }
  // The buffer is reused for the next chunk: wait for the copies out of it.
  for (int dev : devices) {
    PCC_ASSIGN_OR_RETURN(Fence f, gpu->Record(dev));
    PCC_RETURN_IF_ERROR(gpu->Wait(f));
  }
  return Status::Ok();
}

Status ReadCheckpoint(FileSystem* fs, Gpu* gpu, const std::string& path, const Manifest& m,
                      const std::map<std::string, TensorDest>& dests, int threads,
                      const std::function<void(uint64_t)>& progress) {
  PCC_RETURN_IF_ERROR(CheckDests(m, dests));
  const uint64_t chunks = m.chunk_count();
  if (chunks == 0) return Status::Ok();
  OpenOptions oo;
  oo.direct = true;
  PCC_ASSIGN_OR_RETURN(auto file, fs->Open(path, oo));
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  Status first;
  auto fail = [&](const Status& s) {
    std::lock_guard lock(mu);
    if (first.ok()) first = s;
    next = chunks;  // the others stop at their next chunk
  };
  auto worker = [&] {
    bool locked = false;
    auto mem = gpu->AllocHost(m.chunk_bytes, &locked);
    if (!mem.ok()) return fail(mem.status());
    uint8_t* buf = static_cast<uint8_t*>(mem.value());
    for (uint64_t i; (i = next++) < chunks;) {
      const uint64_t start = i * m.chunk_bytes;
      const uint64_t len = std::min(m.chunk_bytes, m.data_bytes - start);
      size_t got = 0;
      Status s = file->ReadAt(buf, AlignUp(len, kDirectAlign), start, &got);
      if (s.ok() && got < len) {
        s = Status::Corruption(path + " ends at byte " + std::to_string(start + got) +
                               " but the manifest of step " + std::to_string(m.step) +
                               " needs " + std::to_string(m.data_bytes));
      }
      if (s.ok() && Crc32c(buf, len) != m.chunk_crcs[i]) {
        s = Status::Corruption("checksum mismatch in chunk " + std::to_string(i) + " of step " +
                               std::to_string(m.step) + " (" + path + ", bytes " +
                               std::to_string(start) + ".." + std::to_string(start + len) + ")");
      }
      if (s.ok()) s = Scatter(gpu, m, dests, buf, start, len);
      if (s.ok() && progress) progress(len);
      if (!s.ok()) {
        fail(s);
        break;
      }
    }
    gpu->FreeHost(buf, m.chunk_bytes);
  };
  const int n = static_cast<int>(std::min<uint64_t>(std::max(threads, 1), chunks));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return first;
}

// Reads checkpoint v, telling a checkpoint that changed under the reader
// from a damaged one (restore.h).
Status ReadView(FileSystem* fs, Gpu* gpu, const SlotStore& store, const SlotStore::SlotView& v,
                const std::map<std::string, TensorDest>& dests, int threads,
                const std::function<void(uint64_t)>& progress) {
  const Manifest& m = *v.manifest;
  PCC_RETURN_IF_ERROR(CheckDests(m, dests));  // so NotFound below is a missing file
  Status s = ReadCheckpoint(fs, gpu, store.DataPathOf(v), m, dests, threads, progress);
  if (s.ok() || (s.code() != Code::kCorruption && s.code() != Code::kNotFound)) return s;
  const std::string what = "step " + std::to_string(m.step) + " of job " + store.job() + " rank " +
                           std::to_string(store.rank());
  auto damaged = [&] {
    if (s.code() == Code::kCorruption) return s;
    return Status::Corruption(s.message() + " (the data file of a committed checkpoint is gone)");
  };
  if (v.kept) {
    if (fs->Exists(store.KeptManifestPath(m.step))) return damaged();
    return Status::Aborted(what + " was pruned while verifying (" + s.message() +
                           "); nothing is damaged");
  }
  // Kept meanwhile: its data went to kept/ first, its manifest follows.
  if (fs->Exists(store.KeptDataPath(m.step))) {
    return ReadCheckpoint(fs, gpu, store.KeptDataPath(m.step), m, dests, threads, progress);
  }
  auto now = fs->ReadWholeFile(store.ManifestPath(v.slot));
  if (now.ok() && ManifestChecksum(now.value()) == v.manifest_crc) return damaged();
  return Status::Aborted(what + " was superseded while verifying: slot " + std::to_string(v.slot) +
                         " was reused by a newer checkpoint; nothing is damaged");
}

}  // namespace

Result<RestoreResult> RestoreFromStore(FileSystem* fs, Gpu* gpu, const SlotStore& store,
                                       const EngineOptions& options, std::optional<uint64_t> step,
                                       const std::map<std::string, TensorDest>& dests,
                                       const std::function<void(uint64_t)>& progress) {
  std::vector<SlotStore::SlotView> candidates;
  std::string steps;
  for (auto& v : store.Checkpoints()) {
    if (!v.committed) continue;
    steps += (steps.empty() ? "" : ", ") + std::to_string(v.step);
    if (!step || v.step == *step) candidates.push_back(std::move(v));
  }
  // Latest first, then the others newest first (Checkpoints() sorts by step).
  std::stable_partition(candidates.begin(), candidates.end(),
                        [](const SlotStore::SlotView& v) { return v.latest; });
  const std::string who = "job " + store.job() + " rank " + std::to_string(store.rank());
  if (candidates.empty()) {
    if (step) {
      return Status::NotFound("step " + std::to_string(*step) + " of " + who +
                              " is not committed or kept (committed and kept steps: " +
                              (steps.empty() ? "none" : steps) + ")");
    }
    return Status::NotFound("no committed checkpoint of " + who + " in " + store.dir());
  }
  RestoreResult result;
  Status first_error;
  for (const auto& c : candidates) {
    const Manifest& m = *c.manifest;
    Status s = ReadView(fs, gpu, store, c, dests, options.writers, progress);
    if (s.ok()) {
      result.step = m.step;
      result.user_blob = m.user_blob;
      result.tensors = m.tensors;
      result.bytes_read = m.data_bytes;
      return result;
    }
    // An explicit step: a second copy of it (rare: two saves of one step)
    // is tried, and the first failure reported.
    if (step) {
      if (first_error.ok()) first_error = s;
      continue;
    }
    if (s.code() != Code::kCorruption && s.code() != Code::kAborted) return s;
    result.skipped.push_back("step " + std::to_string(m.step) + ": " + s.message());
  }
  if (step) return first_error;
  std::string why;
  for (const auto& s : result.skipped) why += "; " + s;
  return Status::Corruption("no committed checkpoint of " + who + " verifies" + why);
}

}  // namespace pccheck
