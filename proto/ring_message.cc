// The fixed-size messages of the shared-memory rings (layout in wire.h), each
// described once by a field list (fields.h) that both its encoder and its
// decoder visit; the zero padding to kRingMessageBytes follows the fields.
//
// The bytes come from a slot the peer can rewrite at any time, so RingView
// copies them out first and these decoders read only that private copy.
// Everything is canonical (padding and reserved bytes zero) so that an
// accepted message re-encodes to the very same bytes.
#include <cstring>

#include "fields.h"
#include "proto/codec.h"
#include "proto/wire.h"

namespace pccheck::wire {
namespace {

constexpr std::string_view kRingMagic = "PCRM";

// The magic and the protocol version that start both messages.
template <typename V>
Status Header(V& v) {
  std::string magic(kRingMagic);
  PCC_RETURN_IF_ERROR(v.Raw(magic, kRingMagic.size(), "magic"));
  PCC_RETURN_IF_ERROR(v.Check(
      [&](const Reader& r) { return magic == kRingMagic ? Status::Ok() : r.Fail("bad magic"); }));
  uint16_t version = kProtocolVersion;
  PCC_RETURN_IF_ERROR(v.U16(version, "protocol version"));
  return v.Check([&](const Reader& r) {
    if (version == kProtocolVersion) return Status::Ok();
    return r.Fail("protocol version " + std::to_string(version) + " (this build speaks " +
                  std::to_string(kProtocolVersion) + ")");
  });
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 character.
std::string_view CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

// ---- field lists, in ring order ------------------------------------------------

template <typename V, Is<SaveMsg> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(Header(v));
  RingType type = RingType::kSave;
  PCC_RETURN_IF_ERROR(v.U16(type, "type"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    if (type == RingType::kSave) return Status::Ok();
    return r.Fail("type " + std::to_string(static_cast<uint32_t>(type)) + " is not a save request");
  }));
  PCC_RETURN_IF_ERROR(v.U64(m.seq, "seq"));
  PCC_RETURN_IF_ERROR(v.U64(m.step, "step"));
  PCC_RETURN_IF_ERROR(v.U32(m.table_version, "table_version"));
  PCC_RETURN_IF_ERROR(v.U32(m.blob_slot, "blob_slot"));
  PCC_RETURN_IF_ERROR(v.U64(m.blob_bytes, "blob_bytes"));
  PCC_RETURN_IF_ERROR(v.U32(m.event_slot, "event_slot"));
  return v.Check([&](const Reader& r) {
    if (m.blob_bytes <= kMaxUserBlobBytes) return Status::Ok();
    return r.Fail("blob_bytes " + std::to_string(m.blob_bytes) + " exceeds the " +
                  std::to_string(kMaxUserBlobBytes) + "-byte limit");
  });
}

template <typename V, Is<CompletionMsg> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(Header(v));
  PCC_RETURN_IF_ERROR(v.U16(m.type, "type"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    if (m.type >= RingType::kSnapshotDone && m.type <= RingType::kCoalesced) return Status::Ok();
    return r.Fail("type " + std::to_string(static_cast<uint32_t>(m.type)) + " is not a completion");
  }));
  PCC_RETURN_IF_ERROR(v.U64(m.seq, "seq"));
  PCC_RETURN_IF_ERROR(v.U64(m.step, "step"));
  PCC_RETURN_IF_ERROR(v.U32(m.code, "code"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    const bool fits =
        m.type == RingType::kFailed ? m.code != 0 && IsKnownCode(m.code) : m.code == 0;
    if (fits) return Status::Ok();
    return r.Fail("code " + std::to_string(m.code) + " does not fit type " +
                  std::to_string(static_cast<uint32_t>(m.type)));
  }));
  // The encoder writes as much of the message as fits, cut between characters.
  uint32_t length = static_cast<uint32_t>(CutUtf8(m.message, kMaxCompletionMessageBytes).size());
  uint64_t reserved = 0;
  PCC_RETURN_IF_ERROR(v.U32(length, "message length"));
  PCC_RETURN_IF_ERROR(v.U64(reserved, "reserved"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    if (reserved != 0) return r.Fail("reserved bytes are not zero");
    if (length > kMaxCompletionMessageBytes) {
      return r.Fail("message of " + std::to_string(length) + " bytes exceeds the " +
                    std::to_string(kMaxCompletionMessageBytes) + "-byte limit");
    }
    return Status::Ok();
  }));
  return v.Raw(m.message, length, "message");
}

// ---- the codec: fields, then zero padding ---------------------------------------

namespace {

template <typename M>
void EncodeRing(const M& m, uint8_t out[kRingMessageBytes]) {
  Writer w;
  WriteFields(w, m);
  const std::string& b = w.bytes();
  std::memcpy(out, b.data(), b.size());
  std::memset(out + b.size(), 0, kRingMessageBytes - b.size());
}

template <typename M>
Result<M> DecodeRing(const uint8_t in[kRingMessageBytes], const char* record) {
  Reader r({reinterpret_cast<const char*>(in), kRingMessageBytes}, record);
  M m;
  PCC_RETURN_IF_ERROR(ReadFields(r, m));
  uint8_t b = 0;
  while (r.remaining() > 0) {
    PCC_RETURN_IF_ERROR(r.U8(&b, "padding"));
    if (b != 0) return r.Fail("non-zero padding");
  }
  return m;
}

}  // namespace

void EncodeSave(const SaveMsg& m, uint8_t out[kRingMessageBytes]) { EncodeRing(m, out); }

Result<SaveMsg> DecodeSave(const uint8_t in[kRingMessageBytes]) {
  return DecodeRing<SaveMsg>(in, "SaveMsg");
}

void EncodeCompletion(const CompletionMsg& m, uint8_t out[kRingMessageBytes]) {
  EncodeRing(m, out);
}

Result<CompletionMsg> DecodeCompletion(const uint8_t in[kRingMessageBytes]) {
  return DecodeRing<CompletionMsg>(in, "CompletionMsg");
}

}  // namespace pccheck::wire
