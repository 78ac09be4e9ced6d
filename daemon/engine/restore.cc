#include "engine/restore.h"

#include <algorithm>
#include <cstring>

#include "store/chunk_reader.h"

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
  std::vector<int> devices;
  PCC_RETURN_IF_ERROR(ForEachTensorPiece(
      m, start, buf, len, [&](size_t i, uint64_t into, const uint8_t* src, uint64_t n) -> Status {
        auto d = dests.find(m.tensors[i].name);
        if (d == dests.end()) return Status::Ok();
        uint8_t* dst = static_cast<uint8_t*>(d->second.data) + into;
        if (d->second.device == kHostDevice) {
          std::memcpy(dst, src, n);
          return Status::Ok();
        }
        if (std::find(devices.begin(), devices.end(), d->second.device) == devices.end()) {
          devices.push_back(d->second.device);
        }
        return gpu->CopyToDevice(d->second.device, dst, src, n);
      }));
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
  // Page-locked buffers: copies out of them to a device are fastest.
  const ChunkBuffers pinned{[gpu](uint64_t bytes) -> Result<void*> {
                              bool locked = false;
                              return gpu->AllocHost(bytes, &locked);
                            },
                            [gpu](void* p, uint64_t bytes) { gpu->FreeHost(p, bytes); }};
  return ReadVerifiedChunks(
      fs, path, m, threads,
      [&](uint64_t start, const uint8_t* buf, uint64_t len) {
        PCC_RETURN_IF_ERROR(Scatter(gpu, m, dests, buf, start, len));
        if (progress) progress(len);
        return Status::Ok();
      },
      &pinned);
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
  auto now = fs->ReadStoreFile(store.ManifestPath(v.slot), kMaxManifestBytes);
  if (now.ok() && ManifestChecksum(now.value()) == v.manifest_crc) return damaged();
  return Status::Aborted(what + " was superseded while verifying: slot " + std::to_string(v.slot) +
                         " was reused by a newer checkpoint; nothing is damaged");
}

}  // namespace

Status RestoreFromChunks(Gpu* gpu, const Manifest& m, const std::vector<const uint8_t*>& chunks,
                         const std::map<std::string, TensorDest>& dests, int threads) {
  PCC_RETURN_IF_ERROR(CheckDests(m, dests));
  // The chunks are page-locked already: no staging buffer is needed.
  return VerifiedChunksInMemory(m, chunks, "daemon memory", threads,
                                [&](uint64_t start, const uint8_t* data, uint64_t len) {
                                  return Scatter(gpu, m, dests, data, start, len);
                                });
}

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
