#include "proto/store_wire.h"

#include "proto/codec.h"

namespace pccheck::wire {
namespace {

constexpr uint32_t kMaxPrunedEntries = 1u << 20;
constexpr size_t kMinPrunedEntryBytes = 4 + 4 + 8 + 8;
constexpr size_t kMinListedEntryBytes = 4 + 4 + 8 + 4 + 8 + 8 + 1 + 1 + 4;

}  // namespace

std::string Encode(const StoreListed& m) {
  Writer w;
  w.Str(m.root);
  w.U32(static_cast<uint32_t>(m.checkpoints.size()));
  for (const StoreListed::Entry& e : m.checkpoints) {
    w.Str(e.job);
    w.U32(e.rank);
    w.U64(e.step);
    w.U32(e.slot);
    w.U64(e.bytes);
    w.U64(static_cast<uint64_t>(e.wall_time));
    w.Bool(e.latest);
    w.Bool(e.kept);
    w.Str(e.state);
  }
  return w.Take();
}

Result<StoreListed> DecodeStoreListed(std::string_view b) {
  return DecodeAll<StoreListed>(b, "StoreListed", [](Reader& r, StoreListed& m) {
    PCC_RETURN_IF_ERROR(r.Str(&m.root, kMaxStringBytes, "root"));
    uint32_t count = 0;
    PCC_RETURN_IF_ERROR(
        r.Count(&count, kMaxListedCheckpoints, kMinListedEntryBytes, "checkpoint count"));
    m.checkpoints.resize(count);
    for (StoreListed::Entry& e : m.checkpoints) {
      PCC_RETURN_IF_ERROR(r.Str(&e.job, kMaxNameBytes, "checkpoint job"));
      PCC_RETURN_IF_ERROR(r.U32(&e.rank, "checkpoint rank"));
      PCC_RETURN_IF_ERROR(r.U64(&e.step, "checkpoint step"));
      PCC_RETURN_IF_ERROR(r.U32(&e.slot, "checkpoint slot"));
      PCC_RETURN_IF_ERROR(r.U64(&e.bytes, "checkpoint bytes"));
      uint64_t wall_time = 0;
      PCC_RETURN_IF_ERROR(r.U64(&wall_time, "checkpoint wall_time"));
      e.wall_time = static_cast<int64_t>(wall_time);
      PCC_RETURN_IF_ERROR(r.Bool(&e.latest, "checkpoint latest"));
      PCC_RETURN_IF_ERROR(r.Bool(&e.kept, "checkpoint kept"));
      PCC_RETURN_IF_ERROR(r.Str(&e.state, kMaxStringBytes, "checkpoint state"));
    }
    return Status::Ok();
  });
}

std::string Encode(const Verify& m) {
  Writer w;
  w.Str(m.job);
  w.U32(m.rank);
  w.U64(m.step);
  return w.Take();
}

Result<Verify> DecodeVerify(std::string_view b) {
  return DecodeAll<Verify>(b, "Verify", [](Reader& r, Verify& m) {
    PCC_RETURN_IF_ERROR(r.Str(&m.job, kMaxNameBytes, "job"));
    PCC_RETURN_IF_ERROR(r.U32(&m.rank, "rank"));
    return r.U64(&m.step, "step");
  });
}

std::string Encode(const VerifyProgress& m) {
  Writer w;
  w.U64(m.bytes);
  return w.Take();
}

Result<VerifyProgress> DecodeVerifyProgress(std::string_view b) {
  return DecodeAll<VerifyProgress>(
      b, "VerifyProgress", [](Reader& r, VerifyProgress& m) { return r.U64(&m.bytes, "bytes"); });
}

std::string Encode(const Verified& m) {
  Writer w;
  w.U32(m.code);
  w.Str(m.message);
  w.U64(m.bytes);
  return w.Take();
}

Result<Verified> DecodeVerified(std::string_view b) {
  return DecodeAll<Verified>(b, "Verified", [](Reader& r, Verified& m) {
    PCC_RETURN_IF_ERROR(r.U32(&m.code, "code"));
    if (!IsKnownCode(m.code)) {
      return r.Fail("code " + std::to_string(m.code) + " is not a status code");
    }
    PCC_RETURN_IF_ERROR(r.Str(&m.message, kMaxStringBytes, "message"));
    return r.U64(&m.bytes, "bytes");
  });
}

std::string Encode(const Prune& m) {
  Writer w;
  w.U32(m.keep);
  w.Bool(m.job.has_value());
  if (m.job) w.Str(*m.job);
  w.Bool(m.rank.has_value());
  if (m.rank) w.U32(*m.rank);
  w.Bool(m.dry_run);
  return w.Take();
}

Result<Prune> DecodePrune(std::string_view b) {
  return DecodeAll<Prune>(b, "Prune", [](Reader& r, Prune& m) {
    PCC_RETURN_IF_ERROR(r.U32(&m.keep, "keep"));
    PCC_RETURN_IF_ERROR(r.Optional(
        &m.job, "job flag", [&r](std::string* job) { return r.Str(job, kMaxNameBytes, "job"); }));
    PCC_RETURN_IF_ERROR(
        r.Optional(&m.rank, "rank flag", [&r](uint32_t* rank) { return r.U32(rank, "rank"); }));
    return r.Bool(&m.dry_run, "dry_run");
  });
}

std::string Encode(const Pruned& m) {
  Writer w;
  w.Bool(m.dry_run);
  w.U32(static_cast<uint32_t>(m.removed.size()));
  for (const Pruned::Entry& e : m.removed) {
    w.Str(e.job);
    w.U32(e.rank);
    w.U64(e.step);
    w.U64(e.bytes);
  }
  return w.Take();
}

Result<Pruned> DecodePruned(std::string_view b) {
  return DecodeAll<Pruned>(b, "Pruned", [](Reader& r, Pruned& m) {
    PCC_RETURN_IF_ERROR(r.Bool(&m.dry_run, "dry_run"));
    uint32_t count = 0;
    PCC_RETURN_IF_ERROR(r.Count(&count, kMaxPrunedEntries, kMinPrunedEntryBytes, "entry count"));
    m.removed.resize(count);
    for (Pruned::Entry& e : m.removed) {
      PCC_RETURN_IF_ERROR(r.Str(&e.job, kMaxNameBytes, "entry job"));
      PCC_RETURN_IF_ERROR(r.U32(&e.rank, "entry rank"));
      PCC_RETURN_IF_ERROR(r.U64(&e.step, "entry step"));
      PCC_RETURN_IF_ERROR(r.U64(&e.bytes, "entry bytes"));
    }
    return Status::Ok();
  });
}

}  // namespace pccheck::wire
