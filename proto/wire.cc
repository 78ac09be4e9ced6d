// Socket messages: the frame header and every control payload, each described
// once by a field list (fields.h) that both its encoder and its decoder visit.
// wire.h states the caps and rules each decoder enforces; ring_message.cc
// holds the fixed-size messages of the shared-memory rings.
#include "proto/wire.h"

#include "fields.h"
#include "proto/codec.h"

namespace pccheck::wire {
namespace {

constexpr uint16_t kMaxMsgType = static_cast<uint16_t>(MsgType::kGpuReady);
constexpr uint16_t kFirstStoreMsgType = static_cast<uint16_t>(MsgType::kStoreList);
constexpr uint16_t kLastStoreMsgType = static_cast<uint16_t>(MsgType::kPruned);
constexpr uint32_t kMaxListEntries = 1u << 20;
// The least one encoded item takes: bounds a count by the bytes left.
constexpr size_t kMinTensorSpecBytes = 4 + 4 + 4 + 8 + 4 + 4 + 4 + 4 + 8 + 8;
constexpr size_t kMinListEntryBytes = 8 + 8 + 8 + 1;
constexpr size_t kMinStringBytes = 4;

// The first field of Hello and Welcome. Another version is refused by name:
// the rest of its layout may differ.
template <typename V, Is<uint32_t> N>
Status ProtocolVersion(V& v, N& version) {
  PCC_RETURN_IF_ERROR(v.U32(version, "protocol version"));
  return v.Check([&](const Reader& r) {
    if (version == kProtocolVersion) return Status::Ok();
    return r.Fail("protocol version " + std::to_string(version) +
                  " is not supported (this build speaks " + std::to_string(kProtocolVersion) +
                  "; use a pccheck client and pccheckd from the same release)");
  });
}

// "tensor 3 ('layer.weight')", the name cut short: names are up to 4 KiB.
std::string Label(size_t i, const std::string& name) {
  constexpr size_t kShown = 64;
  return "tensor " + std::to_string(i) + " ('" + name.substr(0, kShown) +
         (name.size() > kShown ? "...')" : "')");
}

// Where the tensor lives must make sense on its own: the daemon bounds every
// copy by this extent, so it must not overflow or leave the exported block.
Status CheckPlacement(const Reader& r, size_t i, const TensorSpec& t) {
  const std::string label = Label(i, t.name);
  if (t.offset > UINT64_MAX - t.bytes) {
    return r.Fail(label + ": offset " + std::to_string(t.offset) + " + " + std::to_string(t.bytes) +
                  " bytes overflows");
  }
  if (t.location == Location::kArena) {
    if (!t.ipc_handle.empty()) return r.Fail(label + ": an arena tensor carries a CUDA IPC handle");
    return Status::Ok();
  }
  if (t.ipc_handle.size() != kIpcHandleBytes) {
    return r.Fail(label + ": CUDA IPC handle of " + std::to_string(t.ipc_handle.size()) +
                  " bytes (expected 64)");
  }
  if (t.offset + t.bytes > t.base_bytes) {
    return r.Fail(label + ": ends at " + std::to_string(t.offset + t.bytes) +
                  ", past its allocation of " + std::to_string(t.base_bytes) + " bytes");
  }
  return Status::Ok();
}

// A list of at most `max` handles of exactly kIpcHandleBytes each.
template <typename V, Is<std::vector<std::string>> L>
Status Handles(V& v, L& handles, uint32_t max, const char* what) {
  PCC_RETURN_IF_ERROR(v.Count(handles, max, kMinStringBytes + kIpcHandleBytes, what));
  for (auto& h : handles) {
    PCC_RETURN_IF_ERROR(v.Str(h, kIpcHandleBytes, "event handle"));
    PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
      if (h.size() == kIpcHandleBytes) return Status::Ok();
      return r.Fail("event handle of " + std::to_string(h.size()) + " bytes (expected 64)");
    }));
  }
  return Status::Ok();
}

}  // namespace

// ---- field lists, in wire order ----------------------------------------------

template <typename V, Is<FrameHeader> M>
Status Fields(V& v, M& h) {
  uint16_t reserved = 0;
  PCC_RETURN_IF_ERROR(v.U32(h.length, "length"));
  PCC_RETURN_IF_ERROR(v.U16(h.type, "type"));
  PCC_RETURN_IF_ERROR(v.U16(reserved, "reserved"));
  return v.Check([&](const Reader& r) {
    const auto type = static_cast<uint16_t>(h.type);
    const bool known = (type >= 1 && type <= kMaxMsgType) ||
                       (type >= kFirstStoreMsgType && type <= kLastStoreMsgType);
    if (!known) return r.Fail("unknown type " + std::to_string(type));
    if (reserved != 0) return r.Fail("reserved field is " + std::to_string(reserved) + ", not 0");
    if (h.length > kMaxFrameBytes) {
      return r.Fail("length " + std::to_string(h.length) + " exceeds the " +
                    std::to_string(kMaxFrameBytes) + "-byte limit");
    }
    return Status::Ok();
  });
}

template <typename V, Is<Hello> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(ProtocolVersion(v, m.version));
  PCC_RETURN_IF_ERROR(v.Str(m.job, kMaxNameBytes, "job"));
  PCC_RETURN_IF_ERROR(v.U32(m.rank, "rank"));
  return v.U32(m.pid, "pid");
}

template <typename V, Is<Welcome> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(ProtocolVersion(v, m.version));
  PCC_RETURN_IF_ERROR(v.U64(m.session_id, "session_id"));
  PCC_RETURN_IF_ERROR(v.U64(m.segment_bytes, "segment_bytes"));
  PCC_RETURN_IF_ERROR(v.U32(m.ring_slots, "ring_slots"));
  PCC_RETURN_IF_ERROR(v.U32(m.blob_slots, "blob_slots"));
  PCC_RETURN_IF_ERROR(v.U64(m.blob_slot_bytes, "blob_slot_bytes"));
  PCC_RETURN_IF_ERROR(v.U32(m.max_inflight, "max_inflight"));
  PCC_RETURN_IF_ERROR(v.U64(m.chunk_bytes, "chunk_bytes"));
  return v.Str(m.daemon_version, kMaxStringBytes, "daemon_version");
}

template <typename V, Is<ErrorReply> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.U32(m.code, "code"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    if (m.code != 0 && IsKnownCode(m.code)) return Status::Ok();
    return r.Fail("code " + std::to_string(m.code) + " is not a failure code");
  }));
  return v.Str(m.message, kMaxStringBytes, "message");
}

template <typename V, Is<AllocArena> M>
Status Fields(V& v, M& m) {
  return v.U64(m.bytes, "bytes");
}

template <typename V, Is<Arena> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.U32(m.arena_id, "arena_id"));
  return v.U64(m.bytes, "bytes");
}

// `index` is the tensor's place in the table, for its label in errors.
template <typename V, Is<TensorSpec> T>
Status Fields(V& v, T& t, size_t index) {
  PCC_RETURN_IF_ERROR(v.Str(t.name, kMaxNameBytes, "tensor name"));
  PCC_RETURN_IF_ERROR(v.Str(t.dtype, kMaxDtypeBytes, "tensor dtype"));
  PCC_RETURN_IF_ERROR(v.Count(t.shape, kMaxDims, 8, "tensor dim count"));
  for (auto& d : t.shape) {
    PCC_RETURN_IF_ERROR(v.U64(d, "tensor dim"));
    PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
      if (d >= 0) return Status::Ok();
      return r.Fail(Label(index, t.name) + " has a negative dim " + std::to_string(d));
    }));
  }
  PCC_RETURN_IF_ERROR(v.U64(t.bytes, "tensor byte size"));
  PCC_RETURN_IF_ERROR(v.U32(t.location, "tensor location"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    if (t.location == Location::kArena || t.location == Location::kCudaIpc) return Status::Ok();
    return r.Fail(Label(index, t.name) + " has unknown location " +
                  std::to_string(static_cast<uint32_t>(t.location)));
  }));
  PCC_RETURN_IF_ERROR(v.U32(t.arena_id, "tensor arena id"));
  PCC_RETURN_IF_ERROR(v.U32(t.device, "tensor device"));
  PCC_RETURN_IF_ERROR(v.Str(t.ipc_handle, kIpcHandleBytes, "tensor IPC handle"));
  PCC_RETURN_IF_ERROR(v.U64(t.base_bytes, "tensor allocation size"));
  PCC_RETURN_IF_ERROR(v.U64(t.offset, "tensor offset"));
  return v.Check([&](const Reader& r) { return CheckPlacement(r, index, t); });
}

template <typename V, Is<Register> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.Count(m.tensors, kMaxTensors, kMinTensorSpecBytes, "tensor count"));
  for (size_t i = 0; i < m.tensors.size(); ++i) PCC_RETURN_IF_ERROR(Fields(v, m.tensors[i], i));
  return Status::Ok();
}

template <typename V, Is<Registered> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.U32(m.table_version, "table_version"));
  return v.U64(m.total_bytes, "total_bytes");
}

template <typename V, Is<Restore> M>
Status Fields(V& v, M& m) {
  return v.Optional(m.step, "has_step flag", [&](auto& step) { return v.U64(step, "step"); });
}

template <typename V, Is<Restored> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.U64(m.step, "step"));
  PCC_RETURN_IF_ERROR(v.Str(m.user_blob, kMaxUserBlobBytes, "user blob"));
  PCC_RETURN_IF_ERROR(v.U64(m.bytes, "bytes"));
  PCC_RETURN_IF_ERROR(v.Str(m.source, kMaxStringBytes, "source"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    if (m.source == "disk" || m.source == "memory") return Status::Ok();
    return r.Fail("source '" + m.source.substr(0, 64) + "' is neither 'disk' nor 'memory'");
  }));
  PCC_RETURN_IF_ERROR(v.Count(m.skipped, kMaxTensors, kMinStringBytes, "skipped count"));
  for (auto& s : m.skipped) PCC_RETURN_IF_ERROR(v.Str(s, kMaxNameBytes, "skipped tensor name"));
  return Status::Ok();
}

template <typename V, Is<ListReply::Entry> E>
Status Fields(V& v, E& e) {
  PCC_RETURN_IF_ERROR(v.U64(e.step, "entry step"));
  PCC_RETURN_IF_ERROR(v.U64(e.bytes, "entry bytes"));
  PCC_RETURN_IF_ERROR(v.U64(e.wall_time, "entry wall time"));
  return v.Bool(e.latest, "entry latest flag");
}

template <typename V, Is<ListReply> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.Count(m.entries, kMaxListEntries, kMinListEntryBytes, "entry count"));
  for (auto& e : m.entries) PCC_RETURN_IF_ERROR(Fields(v, e));
  return v.Check([&](const Reader& r) {
    size_t latest = 0;
    for (const ListReply::Entry& e : m.entries) latest += e.latest;
    if (latest <= 1) return Status::Ok();
    return r.Fail(std::to_string(latest) + " entries are marked latest");
  });
}

template <typename V, Is<StatusReply> M>
Status Fields(V& v, M& m) {
  return v.Str(m.json, kMaxJsonBytes, "json");
}

template <typename V, Is<GpuSetup> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.U32(m.ready_device, "ready_device"));
  PCC_RETURN_IF_ERROR(Handles(v, m.ready_events, kMaxEventSlots, "ready event count"));
  PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
    return m.ready_events.empty() ? r.Fail("no ready events") : Status::Ok();
  }));
  PCC_RETURN_IF_ERROR(v.Count(m.devices, kMaxGpuDevices, 4, "device count"));
  PCC_RETURN_IF_ERROR(v.Check(
      [&](const Reader& r) { return m.devices.empty() ? r.Fail("no devices") : Status::Ok(); }));
  for (size_t i = 0; i < m.devices.size(); ++i) {
    PCC_RETURN_IF_ERROR(v.U32(m.devices[i], "device"));
    PCC_RETURN_IF_ERROR(v.Check([&](const Reader& r) {
      for (size_t j = 0; j < i; ++j) {
        if (m.devices[j] == m.devices[i]) {
          return r.Fail("device " + std::to_string(m.devices[i]) + " is listed twice");
        }
      }
      return Status::Ok();
    }));
  }
  return v.U64(m.staging_bytes, "staging_bytes");
}

template <typename V, Is<GpuReady> M>
Status Fields(V& v, M& m) {
  PCC_RETURN_IF_ERROR(v.Count(m.done_events, kMaxGpuDevices, 4, "device count"));
  for (auto& handles : m.done_events) {
    PCC_RETURN_IF_ERROR(Handles(v, handles, kMaxEventSlots, "done event count"));
  }
  PCC_RETURN_IF_ERROR(v.Str(m.staging_handle, kIpcHandleBytes, "staging handle"));
  PCC_RETURN_IF_ERROR(v.U64(m.staging_bytes, "staging_bytes"));
  return v.Check([&](const Reader& r) {
    const bool has_handle = !m.staging_handle.empty();
    if (has_handle && m.staging_handle.size() != kIpcHandleBytes) {
      return r.Fail("staging handle of " + std::to_string(m.staging_handle.size()) +
                    " bytes (expected 64)");
    }
    if (has_handle != (m.staging_bytes > 0)) {
      return r.Fail("staging handle and staging_bytes " + std::to_string(m.staging_bytes) +
                    " disagree");
    }
    return Status::Ok();
  });
}

// ---- the codec: each message through its field list ---------------------------

std::string EncodeFrameHeader(const FrameHeader& h) { return EncodeFields(h); }

Result<FrameHeader> DecodeFrameHeader(std::string_view bytes) {
  if (bytes.size() != kFrameHeaderBytes) {
    return CorruptRecord("frame header", std::to_string(bytes.size()) + " bytes, expected 8");
  }
  return DecodeFields<FrameHeader>(bytes, "frame header");
}

std::string Encode(const Hello& m) { return EncodeFields(m); }
std::string Encode(const Welcome& m) { return EncodeFields(m); }
std::string Encode(const ErrorReply& m) { return EncodeFields(m); }
std::string Encode(const AllocArena& m) { return EncodeFields(m); }
std::string Encode(const Arena& m) { return EncodeFields(m); }
std::string Encode(const Register& m) { return EncodeFields(m); }
std::string Encode(const Registered& m) { return EncodeFields(m); }
std::string Encode(const Restore& m) { return EncodeFields(m); }
std::string Encode(const Restored& m) { return EncodeFields(m); }
std::string Encode(const ListReply& m) { return EncodeFields(m); }
std::string Encode(const StatusReply& m) { return EncodeFields(m); }
std::string Encode(const GpuSetup& m) { return EncodeFields(m); }
std::string Encode(const GpuReady& m) { return EncodeFields(m); }

Result<Hello> DecodeHello(std::string_view b) { return DecodeFields<Hello>(b, "Hello"); }
Result<Welcome> DecodeWelcome(std::string_view b) { return DecodeFields<Welcome>(b, "Welcome"); }
Result<ErrorReply> DecodeErrorReply(std::string_view b) {
  return DecodeFields<ErrorReply>(b, "ErrorReply");
}
Result<AllocArena> DecodeAllocArena(std::string_view b) {
  return DecodeFields<AllocArena>(b, "AllocArena");
}
Result<Arena> DecodeArena(std::string_view b) { return DecodeFields<Arena>(b, "Arena"); }
Result<Register> DecodeRegister(std::string_view b) {
  return DecodeFields<Register>(b, "Register");
}
Result<Registered> DecodeRegistered(std::string_view b) {
  return DecodeFields<Registered>(b, "Registered");
}
Result<Restore> DecodeRestore(std::string_view b) { return DecodeFields<Restore>(b, "Restore"); }
Result<Restored> DecodeRestored(std::string_view b) {
  return DecodeFields<Restored>(b, "Restored");
}
Result<ListReply> DecodeListReply(std::string_view b) {
  return DecodeFields<ListReply>(b, "ListReply");
}
Result<StatusReply> DecodeStatusReply(std::string_view b) {
  return DecodeFields<StatusReply>(b, "StatusReply");
}
Result<GpuSetup> DecodeGpuSetup(std::string_view b) {
  return DecodeFields<GpuSetup>(b, "GpuSetup");
}
Result<GpuReady> DecodeGpuReady(std::string_view b) {
  return DecodeFields<GpuReady>(b, "GpuReady");
}

}  // namespace pccheck::wire
