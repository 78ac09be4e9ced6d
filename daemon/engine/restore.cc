#include "engine/restore.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
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

// Runs body(i, buf) for chunks 0..chunks-1 on up to `threads` threads, each
// with its own page-locked chunk buffer when with_buffer (else buf is null);
// stops at the first failure.
Status ForEachChunk(Gpu* gpu, const Manifest& m, int threads, bool with_buffer,
                    const std::function<Status(uint64_t, uint8_t*)>& body) {
  const uint64_t chunks = m.chunk_count();
  if (chunks == 0) return Status::Ok();
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  Status first;
  auto fail = [&](const Status& s) {
    std::lock_guard lock(mu);
    if (first.ok()) first = s;
    next = chunks;  // the others stop at their next chunk
  };
  auto worker = [&] {
    uint8_t* buf = nullptr;
    if (with_buffer) {
      bool locked = false;
      auto mem = gpu->AllocHost(m.chunk_bytes, &locked);
      if (!mem.ok()) return fail(mem.status());
      buf = static_cast<uint8_t*>(mem.value());
    }
    for (uint64_t i; (i = next++) < chunks;) {
      Status s = body(i, buf);
      if (!s.ok()) {
        fail(s);
        break;
      }
    }
    if (buf != nullptr) gpu->FreeHost(buf, m.chunk_bytes);
  };
  const int n = static_cast<int>(std::min<uint64_t>(std::max(threads, 1), chunks));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return first;
}

Status CheckChunk(const Manifest& m, uint64_t i, const uint8_t* data, const std::string& where) {
  const uint64_t start = i * m.chunk_bytes;
  const uint64_t len = std::min(m.chunk_bytes, m.data_bytes - start);
  if (Crc32c(data, len) == m.chunk_crcs[i]) return Status::Ok();
  return Status::Corruption("checksum mismatch in chunk " + std::to_string(i) + " of step " +
                            std::to_string(m.step) + " (" + where + ", bytes " +
                            std::to_string(start) + ".." + std::to_string(start + len) + ")");
}

Status ReadCheckpoint(FileSystem* fs, Gpu* gpu, const std::string& path, const Manifest& m,
                      const std::map<std::string, TensorDest>& dests, int threads) {
  PCC_RETURN_IF_ERROR(CheckDests(m, dests));
  if (m.chunk_count() == 0) return Status::Ok();
  OpenOptions oo;
  oo.direct = true;
  PCC_ASSIGN_OR_RETURN(auto file, fs->Open(path, oo));
  return ForEachChunk(gpu, m, threads, true, [&](uint64_t i, uint8_t* buf) {
    const uint64_t start = i * m.chunk_bytes;
    const uint64_t len = std::min(m.chunk_bytes, m.data_bytes - start);
    size_t got = 0;
    PCC_RETURN_IF_ERROR(file->ReadAt(buf, AlignUp(len, kDirectAlign), start, &got));
    if (got < len) {
      return Status::Corruption(path + " ends at byte " + std::to_string(start + got) +
                                " but the manifest of step " + std::to_string(m.step) +
                                " needs " + std::to_string(m.data_bytes));
    }
    PCC_RETURN_IF_ERROR(CheckChunk(m, i, buf, path));
    return Scatter(gpu, m, dests, buf, start, len);
  });
}

}  // namespace

Status RestoreFromChunks(Gpu* gpu, const Manifest& m, const std::vector<const uint8_t*>& chunks,
                         const std::map<std::string, TensorDest>& dests, int threads) {
  PCC_RETURN_IF_ERROR(CheckDests(m, dests));
  if (chunks.size() != m.chunk_count()) {
    return Status::Internal("resident copy of step " + std::to_string(m.step) + " has " +
                            std::to_string(chunks.size()) + " chunks, the manifest " +
                            std::to_string(m.chunk_count()));
  }
  // The chunks are page-locked already: no staging buffer is needed.
  return ForEachChunk(gpu, m, threads, false, [&](uint64_t i, uint8_t*) {
    const uint64_t start = i * m.chunk_bytes;
    const uint64_t len = std::min(m.chunk_bytes, m.data_bytes - start);
    PCC_RETURN_IF_ERROR(CheckChunk(m, i, chunks[i], "daemon memory"));
    return Scatter(gpu, m, dests, chunks[i], start, len);
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
