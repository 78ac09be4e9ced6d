// ReadVerifiedChunks: reads a checkpoint's data stream chunk by chunk and
// checks every chunk against its CRC32C before anyone sees it. The engine's
// restore and the offline reader both read data this way (docs/format.md,
// "Data file").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "proto/manifest.h"

namespace pccheck {

// Receives verified chunk [offset, offset + len) of the stream. Called from
// several reader threads at once, for disjoint ranges; `data` is reused for
// another chunk once the call returns. A non-ok status stops the read.
using ChunkSink = std::function<Status(uint64_t offset, const uint8_t* data, uint64_t len)>;

// Where reader threads get their chunk buffers (multiples of 4 KiB, 4 KiB
// aligned); default: plain aligned host memory. The engine passes
// page-locked memory from its Gpu.
struct ChunkBuffers {
  std::function<Result<void*>(uint64_t bytes)> alloc;
  std::function<void(void* p, uint64_t bytes)> free;
};

// Opens m's data file at `path` for reading (O_DIRECT where the file system
// allows it) once it has checked what a manifest cannot be trusted with:
// Corruption naming the path and the step when the file is missing, is not a
// regular file (it is never waited on or followed) or holds fewer than
// m.data_bytes bytes. Readers call it before sizing anything by m.
Result<std::unique_ptr<File>> OpenDataFile(FileSystem* fs, const std::string& path,
                                           const Manifest& m);

// Reads every chunk of m from the data file at `path` (OpenDataFile) with up
// to `threads` threads, verifies it and passes it to sink. Corruption naming
// the chunk, its byte range, the step and the path on a checksum mismatch or a
// file that ends early, and OpenDataFile's. Buffers are of min(chunk_bytes,
// data_bytes rounded up to 4 KiB) bytes. On failure the sink may have seen
// some chunks but never an unverified one.
Status ReadVerifiedChunks(FileSystem* fs, const std::string& path, const Manifest& m, int threads,
                          const ChunkSink& sink, const ChunkBuffers* buffers = nullptr);

// The same for a copy of the stream held in memory, chunk i at chunks[i]
// (the daemon's pool); `where` names it in errors.
Status VerifiedChunksInMemory(const Manifest& m, const std::vector<const uint8_t*>& chunks,
                              const std::string& where, int threads, const ChunkSink& sink);

// Calls piece(i, into, data, n) for each part of the stream bytes
// [offset, offset + len), held at `data`, that belongs to tensor i of m: n
// bytes that go `into` bytes into the tensor. In table order; zero-byte
// tensors get no call. Stops at, and returns, the first non-ok status.
using TensorPiece = std::function<Status(size_t i, uint64_t into, const uint8_t* data, uint64_t n)>;
Status ForEachTensorPiece(const Manifest& m, uint64_t offset, const uint8_t* data, uint64_t len,
                          const TensorPiece& piece);

}  // namespace pccheck
