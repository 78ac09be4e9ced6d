#include "store/chunk_reader.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "proto/crc32c.h"

namespace pccheck {

namespace {

ChunkBuffers AlignedHostBuffers() {
  return {[](uint64_t bytes) -> Result<void*> {
            void* p = std::aligned_alloc(kDirectAlign, AlignUp(bytes, kDirectAlign));
            if (p == nullptr) {
              return Status::NoSpace("cannot allocate a read buffer of " + std::to_string(bytes) +
                                     " bytes");
            }
            return p;
          },
          [](void* p, uint64_t) { std::free(p); }};
}

// Reads and checks chunk i into buf.
Status ReadChunk(File* file, const std::string& path, const Manifest& m, uint64_t i, uint8_t* buf) {
  const uint64_t start = i * m.chunk_bytes;
  const uint64_t len = std::min(m.chunk_bytes, m.data_bytes - start);
  size_t got = 0;
  PCC_RETURN_IF_ERROR(file->ReadAt(buf, AlignUp(len, kDirectAlign), start, &got));
  if (got < len) {
    return Status::Corruption(path + " ends at byte " + std::to_string(start + got) +
                              " but the manifest of step " + std::to_string(m.step) + " needs " +
                              std::to_string(m.data_bytes));
  }
  if (Crc32c(buf, len) != m.chunk_crcs[i]) {
    return Status::Corruption("checksum mismatch in chunk " + std::to_string(i) + " of step " +
                              std::to_string(m.step) + " (" + path + ", bytes " +
                              std::to_string(start) + ".." + std::to_string(start + len) + ")");
  }
  return Status::Ok();
}

}  // namespace

Status ReadVerifiedChunks(FileSystem* fs, const std::string& path, const Manifest& m, int threads,
                          const ChunkSink& sink, const ChunkBuffers* buffers) {
  const uint64_t chunks = m.chunk_count();
  if (chunks == 0) return Status::Ok();
  const ChunkBuffers host = AlignedHostBuffers();
  if (buffers == nullptr) buffers = &host;
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
    auto mem = buffers->alloc(m.chunk_bytes);
    if (!mem.ok()) return fail(mem.status());
    uint8_t* buf = static_cast<uint8_t*>(mem.value());
    for (uint64_t i; (i = next++) < chunks;) {
      const uint64_t start = i * m.chunk_bytes;
      Status s = ReadChunk(file.get(), path, m, i, buf);
      if (s.ok()) s = sink(start, buf, std::min(m.chunk_bytes, m.data_bytes - start));
      if (!s.ok()) {
        fail(s);
        break;
      }
    }
    buffers->free(buf, m.chunk_bytes);
  };
  const int n = static_cast<int>(std::min<uint64_t>(std::max(threads, 1), chunks));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return first;
}

Status ForEachTensorPiece(const Manifest& m, uint64_t offset, const uint8_t* data, uint64_t len,
                          const TensorPiece& piece) {
  // Tensors are sorted by offset and do not overlap (CheckManifest).
  auto it = std::partition_point(m.tensors.begin(), m.tensors.end(), [&](const TensorEntry& t) {
    return t.offset + t.bytes <= offset;
  });
  for (; it != m.tensors.end() && it->offset < offset + len; ++it) {
    const uint64_t from = std::max(offset, it->offset);
    const uint64_t to = std::min(offset + len, it->offset + it->bytes);
    if (from >= to) continue;
    PCC_RETURN_IF_ERROR(piece(static_cast<size_t>(it - m.tensors.begin()), from - it->offset,
                              data + (from - offset), to - from));
  }
  return Status::Ok();
}

}  // namespace pccheck
