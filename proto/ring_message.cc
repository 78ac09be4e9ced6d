// The fixed-size messages of the shared-memory rings (layout in wire.h).
//
// The bytes come from a slot the peer can rewrite at any time, so RingView
// copies them out first and these decoders read only that private copy.
// Everything is canonical (padding and reserved bytes zero) so that an
// accepted message re-encodes to the very same bytes.
#include <cstring>

#include "proto/codec.h"
#include "proto/wire.h"

namespace pccheck::wire {
namespace {

constexpr std::string_view kRingMagic = "PCRM";

void WriteHeader(Writer& w, RingType type) {
  w.Raw(kRingMagic);
  w.U16(static_cast<uint16_t>(kProtocolVersion));
  w.U16(static_cast<uint16_t>(type));
}

// Copies the encoding into the slot-sized buffer, zero padded.
void Fill(const Writer& w, uint8_t out[kRingMessageBytes]) {
  const std::string& b = w.bytes();
  std::memcpy(out, b.data(), b.size());
  std::memset(out + b.size(), 0, kRingMessageBytes - b.size());
}

std::string_view View(const uint8_t in[kRingMessageBytes]) {
  return {reinterpret_cast<const char*>(in), kRingMessageBytes};
}

// Reads the magic and version, and returns the type for the caller to check.
Status ReadHeader(Reader& r, uint16_t* type) {
  std::string magic;
  PCC_RETURN_IF_ERROR(r.Raw(&magic, kRingMagic.size(), "magic"));
  if (magic != kRingMagic) return r.Fail("bad magic");
  uint16_t version = 0;
  PCC_RETURN_IF_ERROR(r.U16(&version, "protocol version"));
  if (version != kProtocolVersion) {
    return r.Fail("protocol version " + std::to_string(version) + " (this build speaks " +
                  std::to_string(kProtocolVersion) + ")");
  }
  return r.U16(type, "type");
}

Status ReadPadding(Reader& r) {
  uint8_t b = 0;
  while (r.remaining() > 0) {
    PCC_RETURN_IF_ERROR(r.U8(&b, "padding"));
    if (b != 0) return r.Fail("non-zero padding");
  }
  return Status::Ok();
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 character.
std::string_view CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

void EncodeSave(const SaveMsg& m, uint8_t out[kRingMessageBytes]) {
  Writer w;
  WriteHeader(w, RingType::kSave);
  w.U64(m.seq);
  w.U64(m.step);
  w.U32(m.table_version);
  w.U32(m.blob_slot);
  w.U64(m.blob_bytes);
  w.U32(m.event_slot);
  Fill(w, out);
}

Result<SaveMsg> DecodeSave(const uint8_t in[kRingMessageBytes]) {
  Reader r(View(in), "SaveMsg");
  uint16_t type = 0;
  PCC_RETURN_IF_ERROR(ReadHeader(r, &type));
  if (type != static_cast<uint16_t>(RingType::kSave)) {
    return r.Fail("type " + std::to_string(type) + " is not a save request");
  }
  SaveMsg m;
  PCC_RETURN_IF_ERROR(r.U64(&m.seq, "seq"));
  PCC_RETURN_IF_ERROR(r.U64(&m.step, "step"));
  PCC_RETURN_IF_ERROR(r.U32(&m.table_version, "table_version"));
  PCC_RETURN_IF_ERROR(r.U32(&m.blob_slot, "blob_slot"));
  PCC_RETURN_IF_ERROR(r.U64(&m.blob_bytes, "blob_bytes"));
  PCC_RETURN_IF_ERROR(r.U32(&m.event_slot, "event_slot"));
  if (m.blob_bytes > kMaxUserBlobBytes) {
    return r.Fail("blob_bytes " + std::to_string(m.blob_bytes) + " exceeds the " +
                  std::to_string(kMaxUserBlobBytes) + "-byte limit");
  }
  PCC_RETURN_IF_ERROR(ReadPadding(r));
  return m;
}

void EncodeCompletion(const CompletionMsg& m, uint8_t out[kRingMessageBytes]) {
  std::string_view message = CutUtf8(m.message, kMaxCompletionMessageBytes);
  Writer w;
  WriteHeader(w, m.type);
  w.U64(m.seq);
  w.U64(m.step);
  w.U32(m.code);
  w.U32(static_cast<uint32_t>(message.size()));
  w.U64(0);  // reserved
  w.Raw(message);
  Fill(w, out);
}

Result<CompletionMsg> DecodeCompletion(const uint8_t in[kRingMessageBytes]) {
  Reader r(View(in), "CompletionMsg");
  uint16_t type = 0;
  PCC_RETURN_IF_ERROR(ReadHeader(r, &type));
  if (type < static_cast<uint16_t>(RingType::kSnapshotDone) ||
      type > static_cast<uint16_t>(RingType::kCoalesced)) {
    return r.Fail("type " + std::to_string(type) + " is not a completion");
  }
  CompletionMsg m;
  m.type = static_cast<RingType>(type);
  uint32_t length = 0;
  uint64_t reserved = 0;
  PCC_RETURN_IF_ERROR(r.U64(&m.seq, "seq"));
  PCC_RETURN_IF_ERROR(r.U64(&m.step, "step"));
  PCC_RETURN_IF_ERROR(r.U32(&m.code, "code"));
  const bool failed = m.type == RingType::kFailed;
  if (failed ? (m.code == 0 || !IsKnownCode(m.code)) : m.code != 0) {
    return r.Fail("code " + std::to_string(m.code) + " does not fit type " + std::to_string(type));
  }
  PCC_RETURN_IF_ERROR(r.U32(&length, "message length"));
  PCC_RETURN_IF_ERROR(r.U64(&reserved, "reserved"));
  if (reserved != 0) return r.Fail("reserved bytes are not zero");
  if (length > kMaxCompletionMessageBytes) {
    return r.Fail("message of " + std::to_string(length) + " bytes exceeds the " +
                  std::to_string(kMaxCompletionMessageBytes) + "-byte limit");
  }
  PCC_RETURN_IF_ERROR(r.Raw(&m.message, length, "message"));
  PCC_RETURN_IF_ERROR(ReadPadding(r));
  return m;
}

}  // namespace pccheck::wire
