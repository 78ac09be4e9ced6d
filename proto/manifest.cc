// Encoding and decoding of the manifest and `latest` records; docs/format.md
// is the byte-level description this file follows. Each record is an
// envelope (magic, format version, CRC32C trailer) around a body described
// once by a field list (fields.h) that both its encoder and its decoder visit.
#include "proto/manifest.h"

#include <unordered_set>

#include "base/crc32c.h"
#include "fields.h"
#include "proto/codec.h"

namespace pccheck {
namespace {

constexpr std::string_view kManifestMagic = "PCCKMANF";
constexpr std::string_view kLatestMagic = "PCCKLATE";
constexpr size_t kHeaderBytes = 8 + 4;  // magic, format version
constexpr size_t kTrailerBytes = 4;     // CRC32C of everything before it
constexpr size_t kLatestBytes = kHeaderBytes + 8 + 4 + 4 + kTrailerBytes;
static_assert(kLatestBytes == kLatestRecordBytes);
// The least a tensor entry takes (empty name and dtype, no dims): bounds the
// tensor count by the bytes left before anything is reserved.
constexpr size_t kMinTensorBytes = 4 + 4 + 4 + 8 + 8;
constexpr uint64_t kChunkAlign = 4096;

Status Corrupt(const char* record, const std::string& what) {
  return Status::Corruption(std::string(record) + ": " + what);
}

// Appends the CRC32C trailer and hands the record over.
std::string Seal(Writer& w) {
  w.U32(Crc32c(w.bytes().data(), w.bytes().size()));
  return w.Take();
}

// Magic, version, size and checksum: everything checked before fields are parsed.
// `fixed_size` is the exact record size, or 0 when the size varies.
Status CheckEnvelope(std::string_view b, std::string_view magic, const char* record,
                     size_t fixed_size) {
  if (b.size() < kHeaderBytes + kTrailerBytes) {
    return Corrupt(record, "record of " + std::to_string(b.size()) + " bytes is too short");
  }
  if (b.substr(0, magic.size()) != magic) {
    return Corrupt(record, "bad magic (expected \"" + std::string(magic) + "\")");
  }
  Reader r(b.substr(magic.size()), record);
  uint32_t version = 0;
  PCC_RETURN_IF_ERROR(r.U32(&version, "format version"));
  if (version != kFormatVersion) {
    return Corrupt(record, "unsupported format version " + std::to_string(version) +
                               " (this build reads " + std::to_string(kFormatVersion) + ")");
  }
  if (fixed_size != 0 && b.size() != fixed_size) {
    return Corrupt(record, "record is " + std::to_string(b.size()) + " bytes, expected " +
                               std::to_string(fixed_size));
  }
  size_t body = b.size() - kTrailerBytes;
  uint32_t stored = 0;
  PCC_RETURN_IF_ERROR(Reader(b.substr(body), record).U32(&stored, "checksum"));
  if (stored != Crc32c(b.data(), body)) return Corrupt(record, "checksum mismatch");
  return Status::Ok();
}

// "tensor 3 ('layer.weight')", the name cut short: names are up to 4 KiB.
std::string Label(size_t i, const std::string& name) {
  constexpr size_t kShown = 64;
  std::string shown = name.substr(0, kShown) + (name.size() > kShown ? "..." : "");
  return "tensor " + std::to_string(i) + " ('" + shown + "')";
}

Status CheckTensors(const Manifest& m) {
  std::unordered_set<std::string_view> names;
  names.reserve(m.tensors.size());
  uint64_t prev_offset = 0, prev_end = 0;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorEntry& t = m.tensors[i];
    std::string label = Label(i, t.name);
    if (t.name.size() > kMaxNameBytes) return Corrupt("manifest", label + " name too long");
    if (t.dtype.size() > kMaxDtypeBytes) return Corrupt("manifest", label + " dtype too long");
    if (t.shape.size() > kMaxDims) return Corrupt("manifest", label + " has too many dims");
    for (int64_t d : t.shape) {
      if (d < 0) return Corrupt("manifest", label + " has a negative dim");
    }
    if (t.offset > m.data_bytes || t.bytes > m.data_bytes - t.offset) {
      return Corrupt("manifest", label + " ends past data_bytes " + std::to_string(m.data_bytes));
    }
    if (t.offset < prev_offset) return Corrupt("manifest", label + " is not sorted by offset");
    if (t.offset < prev_end) return Corrupt("manifest", label + " overlaps the tensor before it");
    if (!names.insert(t.name).second) return Corrupt("manifest", label + " duplicates a name");
    prev_offset = t.offset;
    prev_end = t.offset + t.bytes;
  }
  return Status::Ok();
}

}  // namespace

// ---- field lists of the bodies, in record order ---------------------------------

// `index` is the tensor's place in the table, for its label in errors.
template <typename V, Is<TensorEntry> T>
Status Fields(V& v, T& t, size_t index) {
  PCC_RETURN_IF_ERROR(v.Str(t.name, kMaxNameBytes, "tensor name"));
  PCC_RETURN_IF_ERROR(v.Str(t.dtype, kMaxDtypeBytes, "tensor dtype"));
  uint32_t dims = 0;
  PCC_RETURN_IF_ERROR(v.Count(t.shape, dims, "tensor dim count", [&](const Reader& r) {
    if (dims <= kMaxDims) return Status::Ok();
    return r.Fail(Label(index, t.name) + " has " + std::to_string(dims) + " dims (limit " +
                  std::to_string(kMaxDims) + ")");
  }));
  for (auto& d : t.shape) PCC_RETURN_IF_ERROR(v.U64(d, "tensor dim"));
  PCC_RETURN_IF_ERROR(v.U64(t.offset, "tensor offset"));
  return v.U64(t.bytes, "tensor byte size");
}

// Everything between the header and the checksum. Consistency (CheckManifest)
// is checked after the whole body is read.
template <typename V, Is<Manifest> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.Str(m.job, kMaxNameBytes, "job name"));
  PCC_RETURN_IF_ERROR(v.U32(m.rank, "rank"));
  PCC_RETURN_IF_ERROR(v.U64(m.step, "step"));
  PCC_RETURN_IF_ERROR(v.U64(m.wall_time, "wall time"));
  PCC_RETURN_IF_ERROR(v.U32(m.slot, "slot"));
  PCC_RETURN_IF_ERROR(v.U64(m.data_bytes, "data_bytes"));
  PCC_RETURN_IF_ERROR(v.U64(m.chunk_bytes, "chunk_bytes"));
  // No cap on the count but what the bytes left can hold.
  PCC_RETURN_IF_ERROR(v.Count(m.tensors, UINT32_MAX, kMinTensorBytes, "tensor count"));
  for (size_t i = 0; i < m.tensors.size(); ++i) PCC_RETURN_IF_ERROR(Fields(v, m.tensors[i], i));
  uint64_t chunks = 0;
  PCC_RETURN_IF_ERROR(v.Count(m.chunk_crcs, chunks, "chunk count", [&](const Reader& r) {
    if (chunks <= r.remaining() / 4) return Status::Ok();
    return r.Fail("chunk count " + std::to_string(chunks) + " does not fit in the record");
  }));
  for (auto& crc : m.chunk_crcs) PCC_RETURN_IF_ERROR(v.U32(crc, "chunk checksum"));
  return v.Str(m.user_blob, kMaxUserBlobBytes, "user blob");
}

template <typename V, Is<LatestRecord> M>
Status Fields(V& v, M& rec) {
  PCC_RETURN_IF_ERROR(v.U64(rec.step, "step"));
  PCC_RETURN_IF_ERROR(v.U32(rec.slot, "slot"));
  return v.U32(rec.manifest_crc, "manifest checksum");
}

// ---- the codec -------------------------------------------------------------------

std::string EncodeManifest(const Manifest& m) {
  Writer w;
  w.Raw(kManifestMagic);
  w.U32(kFormatVersion);
  WriteFields(w, m);
  return Seal(w);
}

uint64_t ManifestRecordBytes(const Manifest& m) {
  // The fields in record order (Fields above): a string is a u32 length and
  // its bytes, the tensor and dim counts are u32, the chunk count u64.
  uint64_t n = kHeaderBytes + 4 + m.job.size() + 4 + 8 + 8 + 4 + 8 + 8 + 4;
  for (const TensorEntry& t : m.tensors) {
    n += 4 + t.name.size() + 4 + t.dtype.size() + 4 + 8 * t.shape.size() + 8 + 8;
  }
  return n + 8 + 4 * uint64_t{m.chunk_crcs.size()} + 4 + m.user_blob.size() + kTrailerBytes;
}

Result<Manifest> DecodeManifest(std::string_view bytes) {
  if (bytes.size() > kMaxManifestBytes) {
    return Corrupt("manifest", "record of " + std::to_string(bytes.size()) +
                                   " bytes is larger than a manifest can be (" +
                                   std::to_string(kMaxManifestBytes) + ")");
  }
  PCC_RETURN_IF_ERROR(CheckEnvelope(bytes, kManifestMagic, "manifest", 0));
  Reader r(bytes.substr(kHeaderBytes, bytes.size() - kHeaderBytes - kTrailerBytes), "manifest");
  Manifest m;
  PCC_RETURN_IF_ERROR(ReadFields(r, m));
  if (r.remaining() != 0) {
    return r.Fail(std::to_string(r.remaining()) + " unexpected bytes before the checksum");
  }
  PCC_RETURN_IF_ERROR(CheckManifest(m));
  return m;
}

Status CheckManifest(const Manifest& m) {
  if (m.job.size() > kMaxNameBytes) return Corrupt("manifest", "job name too long");
  if (m.chunk_bytes % kChunkAlign != 0) {
    return Corrupt("manifest",
                   "chunk_bytes " + std::to_string(m.chunk_bytes) + " is not a multiple of 4096");
  }
  if (m.chunk_bytes > kMaxChunkBytes) {
    return Corrupt("manifest", "chunk_bytes " + std::to_string(m.chunk_bytes) +
                                   " is larger than a chunk can be (" +
                                   std::to_string(kMaxChunkBytes) +
                                   ", the `chunk` setting's limit)");
  }
  if (m.data_bytes > 0 && m.chunk_bytes == 0) {
    return Corrupt("manifest",
                   "chunk_bytes is 0 but data_bytes is " + std::to_string(m.data_bytes));
  }
  if (m.chunk_crcs.size() != m.chunk_count()) {
    return Corrupt("manifest", std::to_string(m.chunk_crcs.size()) + " chunk checksums for " +
                                   std::to_string(m.chunk_count()) + " chunks");
  }
  if (m.user_blob.size() > kMaxUserBlobBytes) return Corrupt("manifest", "user blob too large");
  return CheckTensors(m);
}

uint32_t ManifestChecksum(std::string_view encoded) {
  size_t body = encoded.size() < kTrailerBytes ? 0 : encoded.size() - kTrailerBytes;
  return Crc32c(encoded.data(), body);
}

std::string EncodeLatest(const LatestRecord& r) {
  Writer w;
  w.Raw(kLatestMagic);
  w.U32(kFormatVersion);
  WriteFields(w, r);
  return Seal(w);
}

Result<LatestRecord> DecodeLatest(std::string_view bytes) {
  PCC_RETURN_IF_ERROR(CheckEnvelope(bytes, kLatestMagic, "latest", kLatestBytes));
  Reader r(bytes.substr(kHeaderBytes, bytes.size() - kHeaderBytes - kTrailerBytes), "latest");
  LatestRecord rec;
  PCC_RETURN_IF_ERROR(ReadFields(r, rec));
  return rec;
}

}  // namespace pccheck
