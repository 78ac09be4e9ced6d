// The on-disk records of a checkpoint store: the manifest of one checkpoint and
// the `latest` pointer. docs/format.md describes the bytes; this is the code.
//
// Both are encoded little-endian with a magic, a format version and a trailing
// CRC32C over everything before it. Decode validates everything (magic,
// version, lengths against the buffer, overflow-safe sums, checksum) and never
// trusts a length it has not bounded: a Corruption status names what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace pccheck {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kMaxNameBytes = 4096;
inline constexpr size_t kMaxDims = 16;
inline constexpr size_t kMaxUserBlobBytes = 256u << 20;
// The largest chunk a store holds: the daemon's `chunk` setting is bounded to
// it (EngineOptions::Validate), and a manifest that claims more is damaged.
inline constexpr uint64_t kMaxChunkBytes = 1ull << 31;
// The largest manifest record: writers refuse a checkpoint whose manifest
// would be larger (Engine::Save), readers a file that holds more.
inline constexpr uint64_t kMaxManifestBytes = 1ull << 30;
// A `latest` record is always exactly this long.
inline constexpr uint64_t kLatestRecordBytes = 32;

struct TensorEntry {
  std::string name;   // unique within a checkpoint
  std::string dtype;  // "float32", "bfloat16", "uint8", ... (free text, <= kMaxDtypeBytes)
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // byte offset in the checkpoint's data stream
  uint64_t bytes = 0;
  bool operator==(const TensorEntry&) const = default;
};

// A checkpoint's data is one stream of data_bytes bytes: the tensors packed in
// table order. The stream is cut into chunks of chunk_bytes (a multiple of
// 4096; the last one may be shorter); chunk i is stored at file offset
// i * chunk_bytes of the slot's data file, and chunk_crcs[i] is the CRC32C of
// its bytes (without padding).
struct Manifest {
  std::string job;
  uint32_t rank = 0;
  uint64_t step = 0;
  int64_t wall_time = 0;  // seconds since the epoch, when the save was asked
  uint32_t slot = 0;
  uint64_t data_bytes = 0;
  uint64_t chunk_bytes = 0;
  std::vector<TensorEntry> tensors;
  std::vector<uint32_t> chunk_crcs;
  std::string user_blob;  // opaque to pccheck (e.g. pickled training state)
  bool operator==(const Manifest&) const = default;

  uint64_t chunk_count() const {
    // Written so that it cannot overflow, whatever a decoded record holds.
    return chunk_bytes == 0 ? 0 : data_bytes / chunk_bytes + (data_bytes % chunk_bytes != 0);
  }
};

inline constexpr size_t kMaxDtypeBytes = 32;

// Encodes any manifest, even one CheckManifest rejects (tests need those);
// writers call CheckManifest first.
std::string EncodeManifest(const Manifest& m);
// The size of EncodeManifest(m), without encoding it.
uint64_t ManifestRecordBytes(const Manifest& m);
// Also checks internal consistency: tensors lie inside data_bytes and do not
// overlap, chunk_crcs.size() == chunk_count(), chunk_bytes % 4096 == 0 and at
// most kMaxChunkBytes; and the record is at most kMaxManifestBytes.
Result<Manifest> DecodeManifest(std::string_view bytes);
// The consistency rules DecodeManifest applies after parsing (docs/format.md
// lists them); ok or a Corruption status naming the first rule broken.
Status CheckManifest(const Manifest& m);

// The `latest` file: which slot holds the newest committed checkpoint.
struct LatestRecord {
  uint64_t step = 0;
  uint32_t slot = 0;
  uint32_t manifest_crc = 0;  // ManifestChecksum() of the manifest it points at
  bool operator==(const LatestRecord&) const = default;
};

// The checksum that identifies an encoded manifest: the CRC32C of every byte
// but the 4-byte trailer, i.e. the trailer's value for a valid manifest.
// Never use the CRC32C of the whole file: a CRC over data followed by its own
// little-endian CRC is the same constant (0x48674BC7) for every record.
uint32_t ManifestChecksum(std::string_view encoded_manifest);

std::string EncodeLatest(const LatestRecord& r);
Result<LatestRecord> DecodeLatest(std::string_view bytes);

}  // namespace pccheck
