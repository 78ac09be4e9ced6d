#include "store/chunk_reader.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/crc32c.h"

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

// Checks chunk i of m, held at data; `where` names its origin in the error.
Status CheckChunk(const Manifest& m, uint64_t i, const uint8_t* data, const std::string& where) {
  const uint64_t start = i * m.chunk_bytes;
  const uint64_t len = std::min(m.chunk_bytes, m.data_bytes - start);
  if (Crc32c(data, len) == m.chunk_crcs[i]) return Status::Ok();
  return Status::Corruption("checksum mismatch in chunk " + std::to_string(i) + " of step " +
                            std::to_string(m.step) + " (" + where + ", bytes " +
                            std::to_string(start) + ".." + std::to_string(start + len) + ")");
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
  return CheckChunk(m, i, buf, path);
}

// Runs body(i, buf) for every chunk of m on up to `threads` threads, each with
// its own chunk buffer from `buffers` (buf is null when buffers is null), and
// stops at the first failure, which it returns.
Status ParallelChunks(const Manifest& m, int threads, const ChunkBuffers* buffers,
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
  // No chunk is longer than the stream: a manifest of a small checkpoint
  // with large chunks needs small buffers.
  const uint64_t buf_bytes =
      m.data_bytes >= m.chunk_bytes ? m.chunk_bytes : AlignUp(m.data_bytes, kDirectAlign);
  auto worker = [&] {
    uint8_t* buf = nullptr;
    if (buffers != nullptr) {
      auto mem = buffers->alloc(buf_bytes);
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
    if (buf != nullptr) buffers->free(buf, buf_bytes);
  };
  const int n = static_cast<int>(std::min<uint64_t>(std::max(threads, 1), chunks));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return first;
}

}  // namespace

Result<std::unique_ptr<File>> OpenDataFile(FileSystem* fs, const std::string& path,
                                           const Manifest& m) {
  OpenOptions oo;
  oo.direct = true;
  oo.regular_only = true;
  auto opened = fs->Open(path, oo);
  if (!opened.ok() && opened.status().code() == Code::kNotFound) {
    return Status::Corruption("the data file of step " + std::to_string(m.step) + " is missing (" +
                              opened.status().message() + ")");
  }
  PCC_ASSIGN_OR_RETURN(auto file, std::move(opened));
  PCC_ASSIGN_OR_RETURN(const uint64_t size, file->Size());
  if (size < m.data_bytes) {
    return Status::Corruption(path + " holds " + std::to_string(size) +
                              " bytes but the manifest of step " + std::to_string(m.step) +
                              " needs " + std::to_string(m.data_bytes));
  }
  return file;
}

Status ReadVerifiedChunks(FileSystem* fs, const std::string& path, const Manifest& m, int threads,
                          const ChunkSink& sink, const ChunkBuffers* buffers) {
  if (m.chunk_count() == 0) return Status::Ok();
  const ChunkBuffers host = AlignedHostBuffers();
  if (buffers == nullptr) buffers = &host;
  // Checked before any buffer is sized by the manifest.
  PCC_ASSIGN_OR_RETURN(auto file, OpenDataFile(fs, path, m));
  return ParallelChunks(m, threads, buffers, [&](uint64_t i, uint8_t* buf) {
    const uint64_t start = i * m.chunk_bytes;
    PCC_RETURN_IF_ERROR(ReadChunk(file.get(), path, m, i, buf));
    return sink(start, buf, std::min(m.chunk_bytes, m.data_bytes - start));
  });
}

Status VerifiedChunksInMemory(const Manifest& m, const std::vector<const uint8_t*>& chunks,
                              const std::string& where, int threads, const ChunkSink& sink) {
  if (chunks.size() != m.chunk_count()) {
    return Status::Internal("a copy of step " + std::to_string(m.step) + " in " + where + " has " +
                            std::to_string(chunks.size()) + " chunks, its manifest " +
                            std::to_string(m.chunk_count()));
  }
  return ParallelChunks(m, threads, nullptr, [&](uint64_t i, uint8_t*) {
    const uint64_t start = i * m.chunk_bytes;
    PCC_RETURN_IF_ERROR(CheckChunk(m, i, chunks[i], where));
    return sink(start, chunks[i], std::min(m.chunk_bytes, m.data_bytes - start));
  });
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
