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
      m, start, buf, len,
      [&](size_t i, uint64_t into, const uint8_t* src, uint64_t n) -> Status {
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
                      const std::map<std::string, TensorDest>& dests, int threads) {
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
        return Scatter(gpu, m, dests, buf, start, len);
      },
      &pinned);
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
                                       const std::map<std::string, TensorDest>& dests) {
  std::vector<SlotStore::SlotView> candidates;
  std::string steps;
  for (auto& v : store.Slots()) {
    if (!v.committed) continue;
    steps += (steps.empty() ? "" : ", ") + std::to_string(v.manifest->step);
    if (!step || v.manifest->step == *step) candidates.push_back(std::move(v));
  }
  // Latest first, then the others newest first (Slots() sorts by step).
  std::stable_partition(candidates.begin(), candidates.end(),
                        [](const SlotStore::SlotView& v) { return v.latest; });
  const std::string who = "job " + store.job() + " rank " + std::to_string(store.rank());
  if (candidates.empty()) {
    if (step) {
      return Status::NotFound("step " + std::to_string(*step) + " of " + who +
                              " is not committed (committed steps: " +
                              (steps.empty() ? "none" : steps) + ")");
    }
    return Status::NotFound("no committed checkpoint of " + who + " in " + store.dir());
  }
  RestoreResult result;
  for (const auto& c : candidates) {
    const Manifest& m = *c.manifest;
    Status s = ReadCheckpoint(fs, gpu, store.DataPath(c.slot), m, dests, options.writers);
    if (s.ok()) {
      result.step = m.step;
      result.user_blob = m.user_blob;
      result.tensors = m.tensors;
      result.bytes_read = m.data_bytes;
      return result;
    }
    if (step || s.code() != Code::kCorruption) return s;
    result.skipped.push_back("step " + std::to_string(m.step) + ": " + s.message());
  }
  std::string why;
  for (const auto& s : result.skipped) why += "; " + s;
  return Status::Corruption("no committed checkpoint of " + who + " verifies" + why);
}

}  // namespace pccheck
