// The store requests, each described once by a field list (fields.h) that
// both its encoder and its decoder visit; store_wire.h gives the layouts.
#include "proto/store_wire.h"

#include "fields.h"
#include "proto/codec.h"

namespace pccheck::wire {
namespace {

constexpr uint32_t kMaxPrunedEntries = 1u << 20;
// The least one encoded entry takes: bounds a count by the bytes left.
constexpr size_t kMinPrunedEntryBytes = 4 + 4 + 8 + 8;
constexpr size_t kMinListedEntryBytes = 4 + 4 + 8 + 4 + 8 + 8 + 1 + 1 + 4;

}  // namespace

// ---- field lists, in wire order ----------------------------------------------

template <typename V, Is<StoreListed::Entry> E>
Status Fields(V& v, E& e) {
  PCC_RETURN_IF_ERROR(v.Str(e.job, kMaxNameBytes, "checkpoint job"));
  PCC_RETURN_IF_ERROR(v.U32(e.rank, "checkpoint rank"));
  PCC_RETURN_IF_ERROR(v.U64(e.step, "checkpoint step"));
  PCC_RETURN_IF_ERROR(v.U32(e.slot, "checkpoint slot"));
  PCC_RETURN_IF_ERROR(v.U64(e.bytes, "checkpoint bytes"));
  PCC_RETURN_IF_ERROR(v.U64(e.wall_time, "checkpoint wall_time"));
  PCC_RETURN_IF_ERROR(v.Bool(e.latest, "checkpoint latest"));
  PCC_RETURN_IF_ERROR(v.Bool(e.kept, "checkpoint kept"));
  return v.Str(e.state, kMaxStringBytes, "checkpoint state");
}

template <typename V, Is<StoreListed> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.Str(m.root, kMaxStringBytes, "root"));
  PCC_RETURN_IF_ERROR(
      v.Count(m.checkpoints, kMaxListedCheckpoints, kMinListedEntryBytes, "checkpoint count"));
  for (auto& e : m.checkpoints) PCC_RETURN_IF_ERROR(Fields(v, e));
  return Status::Ok();
}

template <typename V, Is<Verify> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.Str(m.job, kMaxNameBytes, "job"));
  PCC_RETURN_IF_ERROR(v.U32(m.rank, "rank"));
  return v.U64(m.step, "step");
}

template <typename V, Is<VerifyProgress> M>
Status Fields(V& v, M& m) {
  return v.U64(m.bytes, "bytes");
}

template <typename V, Is<Verified> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.U32(m.code, "code"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    if (IsKnownCode(m.code)) return Status::Ok();
    return r.Fail("code " + std::to_string(m.code) + " is not a status code");
  }));
  PCC_RETURN_IF_ERROR(v.Str(m.message, kMaxStringBytes, "message"));
  return v.U64(m.bytes, "bytes");
}

template <typename V, Is<Prune> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.U32(m.keep, "keep"));
  PCC_RETURN_IF_ERROR(
      v.Optional(m.job, "job flag", [&](auto& job) { return v.Str(job, kMaxNameBytes, "job"); }));
  PCC_RETURN_IF_ERROR(
      v.Optional(m.rank, "rank flag", [&](auto& rank) { return v.U32(rank, "rank"); }));
  return v.Bool(m.dry_run, "dry_run");
}

template <typename V, Is<Pruned::Entry> E>
Status Fields(V& v, E& e) {
  PCC_RETURN_IF_ERROR(v.Str(e.job, kMaxNameBytes, "entry job"));
  PCC_RETURN_IF_ERROR(v.U32(e.rank, "entry rank"));
  PCC_RETURN_IF_ERROR(v.U64(e.step, "entry step"));
  return v.U64(e.bytes, "entry bytes");
}

template <typename V, Is<Pruned> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.Bool(m.dry_run, "dry_run"));
  PCC_RETURN_IF_ERROR(v.Count(m.removed, kMaxPrunedEntries, kMinPrunedEntryBytes, "entry count"));
  for (auto& e : m.removed) PCC_RETURN_IF_ERROR(Fields(v, e));
  return Status::Ok();
}

// ---- the codec: each message through its field list ---------------------------

std::string Encode(const StoreListed& m) { return EncodeFields(m); }
std::string Encode(const Verify& m) { return EncodeFields(m); }
std::string Encode(const VerifyProgress& m) { return EncodeFields(m); }
std::string Encode(const Verified& m) { return EncodeFields(m); }
std::string Encode(const Prune& m) { return EncodeFields(m); }
std::string Encode(const Pruned& m) { return EncodeFields(m); }

Result<StoreListed> DecodeStoreListed(std::string_view b) {
  return DecodeFields<StoreListed>(b, "StoreListed");
}
Result<Verify> DecodeVerify(std::string_view b) { return DecodeFields<Verify>(b, "Verify"); }
Result<VerifyProgress> DecodeVerifyProgress(std::string_view b) {
  return DecodeFields<VerifyProgress>(b, "VerifyProgress");
}
Result<Verified> DecodeVerified(std::string_view b) {
  return DecodeFields<Verified>(b, "Verified");
}
Result<Prune> DecodePrune(std::string_view b) { return DecodeFields<Prune>(b, "Prune"); }
Result<Pruned> DecodePruned(std::string_view b) { return DecodeFields<Pruned>(b, "Pruned"); }

}  // namespace pccheck::wire
