#include "proto/store_wire.h"

#include "proto/codec.h"

namespace pccheck::wire {
namespace {

constexpr uint32_t kMaxPrunedEntries = 1u << 20;
constexpr size_t kMinPrunedEntryBytes = 4 + 4 + 8 + 8;

template <typename T, typename Read>
Result<T> DecodeAll(std::string_view b, const char* name, Read read) {
  Reader r(b, name);
  T m;
  PCC_RETURN_IF_ERROR(read(r, m));
  PCC_RETURN_IF_ERROR(r.End());
  return m;
}

Status ReadBool(Reader& r, bool* v, const char* what) {
  uint8_t b = 0;
  PCC_RETURN_IF_ERROR(r.U8(&b, what));
  if (b > 1) return r.Fail(std::string(what) + " is " + std::to_string(b) + ", not 0 or 1");
  *v = b == 1;
  return Status::Ok();
}

}  // namespace

std::string Encode(const StoreListed& m) {
  Writer w;
  w.Str(m.json);
  return w.Take();
}

Result<StoreListed> DecodeStoreListed(std::string_view b) {
  return DecodeAll<StoreListed>(b, "StoreListed", [](Reader& r, StoreListed& m) {
    return r.Str(&m.json, kMaxJsonBytes, "json");
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
    if (m.code > static_cast<uint32_t>(Code::kInternal)) {
      return r.Fail("code " + std::to_string(m.code) + " is not a status code");
    }
    PCC_RETURN_IF_ERROR(r.Str(&m.message, kMaxStringBytes, "message"));
    return r.U64(&m.bytes, "bytes");
  });
}

std::string Encode(const Prune& m) {
  Writer w;
  w.U32(m.keep);
  w.U8(m.job ? 1 : 0);
  if (m.job) w.Str(*m.job);
  w.U8(m.rank ? 1 : 0);
  if (m.rank) w.U32(*m.rank);
  w.U8(m.dry_run ? 1 : 0);
  return w.Take();
}

Result<Prune> DecodePrune(std::string_view b) {
  return DecodeAll<Prune>(b, "Prune", [](Reader& r, Prune& m) {
    PCC_RETURN_IF_ERROR(r.U32(&m.keep, "keep"));
    bool has = false;
    PCC_RETURN_IF_ERROR(ReadBool(r, &has, "job flag"));
    if (has) {
      std::string job;
      PCC_RETURN_IF_ERROR(r.Str(&job, kMaxNameBytes, "job"));
      m.job = std::move(job);
    }
    PCC_RETURN_IF_ERROR(ReadBool(r, &has, "rank flag"));
    if (has) {
      uint32_t rank = 0;
      PCC_RETURN_IF_ERROR(r.U32(&rank, "rank"));
      m.rank = rank;
    }
    return ReadBool(r, &m.dry_run, "dry_run");
  });
}

std::string Encode(const Pruned& m) {
  Writer w;
  w.U8(m.dry_run ? 1 : 0);
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
    PCC_RETURN_IF_ERROR(ReadBool(r, &m.dry_run, "dry_run"));
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
