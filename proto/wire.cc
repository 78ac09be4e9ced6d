// Socket messages: the frame header and every control payload. wire.h states
// the caps and rules each decoder enforces; ring_message.cc holds the
// fixed-size messages of the shared-memory rings.
#include "proto/wire.h"

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

Status ReadVersion(Reader& r, uint32_t* version) {
  PCC_RETURN_IF_ERROR(r.U32(version, "protocol version"));
  if (*version == kProtocolVersion) return Status::Ok();
  return r.Fail("protocol version " + std::to_string(*version) + " is not supported (this build " +
                "speaks " + std::to_string(kProtocolVersion) +
                "; use a pccheck client and pccheckd from the same release)");
}

// "tensor 3 ('layer.weight')", the name cut short: names are up to 4 KiB.
std::string Label(size_t i, const std::string& name) {
  constexpr size_t kShown = 64;
  return "tensor " + std::to_string(i) + " ('" + name.substr(0, kShown) +
         (name.size() > kShown ? "...')" : "')");
}

void WriteTensor(Writer& w, const TensorSpec& t) {
  w.Str(t.name);
  w.Str(t.dtype);
  w.U32(static_cast<uint32_t>(t.shape.size()));
  for (int64_t d : t.shape) w.U64(static_cast<uint64_t>(d));
  w.U64(t.bytes);
  w.U32(static_cast<uint32_t>(t.location));
  w.U32(t.arena_id);
  w.U32(t.device);
  w.Str(t.ipc_handle);
  w.U64(t.base_bytes);
  w.U64(t.offset);
}

// Where the tensor lives must make sense on its own: the daemon bounds every
// copy by this extent, so it must not overflow or leave the exported block.
Status CheckPlacement(Reader& r, size_t i, const TensorSpec& t) {
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

Status ReadTensor(Reader& r, size_t i, TensorSpec* t) {
  PCC_RETURN_IF_ERROR(r.Str(&t->name, kMaxNameBytes, "tensor name"));
  PCC_RETURN_IF_ERROR(r.Str(&t->dtype, kMaxDtypeBytes, "tensor dtype"));
  uint32_t dims = 0;
  PCC_RETURN_IF_ERROR(r.Count(&dims, kMaxDims, 8, "tensor dim count"));
  t->shape.resize(dims);
  for (int64_t& d : t->shape) {
    PCC_RETURN_IF_ERROR(r.I64(&d, "tensor dim"));
    if (d < 0) return r.Fail(Label(i, t->name) + " has a negative dim " + std::to_string(d));
  }
  PCC_RETURN_IF_ERROR(r.U64(&t->bytes, "tensor byte size"));
  uint32_t location = 0;
  PCC_RETURN_IF_ERROR(r.U32(&location, "tensor location"));
  if (location != static_cast<uint32_t>(Location::kArena) &&
      location != static_cast<uint32_t>(Location::kCudaIpc)) {
    return r.Fail(Label(i, t->name) + " has unknown location " + std::to_string(location));
  }
  t->location = static_cast<Location>(location);
  PCC_RETURN_IF_ERROR(r.U32(&t->arena_id, "tensor arena id"));
  PCC_RETURN_IF_ERROR(r.U32(&t->device, "tensor device"));
  PCC_RETURN_IF_ERROR(r.Str(&t->ipc_handle, kIpcHandleBytes, "tensor IPC handle"));
  PCC_RETURN_IF_ERROR(r.U64(&t->base_bytes, "tensor allocation size"));
  PCC_RETURN_IF_ERROR(r.U64(&t->offset, "tensor offset"));
  return CheckPlacement(r, i, *t);
}

}  // namespace

std::string EncodeFrameHeader(const FrameHeader& h) {
  Writer w;
  w.U32(h.length);
  w.U16(static_cast<uint16_t>(h.type));
  w.U16(0);
  return w.Take();
}

Result<FrameHeader> DecodeFrameHeader(std::string_view bytes) {
  if (bytes.size() != kFrameHeaderBytes) {
    return CorruptRecord("frame header", std::to_string(bytes.size()) + " bytes, expected 8");
  }
  return DecodeAll<FrameHeader>(bytes, "frame header", [](Reader& r, FrameHeader& h) {
    uint16_t type = 0, reserved = 0;
    PCC_RETURN_IF_ERROR(r.U32(&h.length, "length"));
    PCC_RETURN_IF_ERROR(r.U16(&type, "type"));
    PCC_RETURN_IF_ERROR(r.U16(&reserved, "reserved"));
    const bool known = (type >= 1 && type <= kMaxMsgType) ||
                       (type >= kFirstStoreMsgType && type <= kLastStoreMsgType);
    if (!known) return r.Fail("unknown type " + std::to_string(type));
    if (reserved != 0) return r.Fail("reserved field is " + std::to_string(reserved) + ", not 0");
    if (h.length > kMaxFrameBytes) {
      return r.Fail("length " + std::to_string(h.length) + " exceeds the " +
                    std::to_string(kMaxFrameBytes) + "-byte limit");
    }
    h.type = static_cast<MsgType>(type);
    return Status::Ok();
  });
}

std::string Encode(const Hello& m) {
  Writer w;
  w.U32(m.version);
  w.Str(m.job);
  w.U32(m.rank);
  w.U32(m.pid);
  return w.Take();
}

Result<Hello> DecodeHello(std::string_view b) {
  return DecodeAll<Hello>(b, "Hello", [](Reader& r, Hello& m) {
    PCC_RETURN_IF_ERROR(ReadVersion(r, &m.version));
    PCC_RETURN_IF_ERROR(r.Str(&m.job, kMaxNameBytes, "job"));
    PCC_RETURN_IF_ERROR(r.U32(&m.rank, "rank"));
    return r.U32(&m.pid, "pid");
  });
}

std::string Encode(const Welcome& m) {
  Writer w;
  w.U32(m.version);
  w.U64(m.session_id);
  w.U64(m.segment_bytes);
  w.U32(m.ring_slots);
  w.U32(m.blob_slots);
  w.U64(m.blob_slot_bytes);
  w.U32(m.max_inflight);
  w.U64(m.chunk_bytes);
  w.Str(m.daemon_version);
  return w.Take();
}

Result<Welcome> DecodeWelcome(std::string_view b) {
  return DecodeAll<Welcome>(b, "Welcome", [](Reader& r, Welcome& m) {
    PCC_RETURN_IF_ERROR(ReadVersion(r, &m.version));
    PCC_RETURN_IF_ERROR(r.U64(&m.session_id, "session_id"));
    PCC_RETURN_IF_ERROR(r.U64(&m.segment_bytes, "segment_bytes"));
    PCC_RETURN_IF_ERROR(r.U32(&m.ring_slots, "ring_slots"));
    PCC_RETURN_IF_ERROR(r.U32(&m.blob_slots, "blob_slots"));
    PCC_RETURN_IF_ERROR(r.U64(&m.blob_slot_bytes, "blob_slot_bytes"));
    PCC_RETURN_IF_ERROR(r.U32(&m.max_inflight, "max_inflight"));
    PCC_RETURN_IF_ERROR(r.U64(&m.chunk_bytes, "chunk_bytes"));
    return r.Str(&m.daemon_version, kMaxStringBytes, "daemon_version");
  });
}

std::string Encode(const ErrorReply& m) {
  Writer w;
  w.U32(m.code);
  w.Str(m.message);
  return w.Take();
}

Result<ErrorReply> DecodeErrorReply(std::string_view b) {
  return DecodeAll<ErrorReply>(b, "ErrorReply", [](Reader& r, ErrorReply& m) {
    PCC_RETURN_IF_ERROR(r.U32(&m.code, "code"));
    if (m.code == 0 || !IsKnownCode(m.code)) {
      return r.Fail("code " + std::to_string(m.code) + " is not a failure code");
    }
    return r.Str(&m.message, kMaxStringBytes, "message");
  });
}

std::string Encode(const AllocArena& m) {
  Writer w;
  w.U64(m.bytes);
  return w.Take();
}

Result<AllocArena> DecodeAllocArena(std::string_view b) {
  return DecodeAll<AllocArena>(b, "AllocArena",
                               [](Reader& r, AllocArena& m) { return r.U64(&m.bytes, "bytes"); });
}

std::string Encode(const Arena& m) {
  Writer w;
  w.U32(m.arena_id);
  w.U64(m.bytes);
  return w.Take();
}

Result<Arena> DecodeArena(std::string_view b) {
  return DecodeAll<Arena>(b, "Arena", [](Reader& r, Arena& m) {
    PCC_RETURN_IF_ERROR(r.U32(&m.arena_id, "arena_id"));
    return r.U64(&m.bytes, "bytes");
  });
}

std::string Encode(const Register& m) {
  Writer w;
  w.U32(static_cast<uint32_t>(m.tensors.size()));
  for (const TensorSpec& t : m.tensors) WriteTensor(w, t);
  return w.Take();
}

Result<Register> DecodeRegister(std::string_view b) {
  return DecodeAll<Register>(b, "Register", [](Reader& r, Register& m) {
    uint32_t count = 0;
    PCC_RETURN_IF_ERROR(r.Count(&count, kMaxTensors, kMinTensorSpecBytes, "tensor count"));
    m.tensors.resize(count);
    for (size_t i = 0; i < count; ++i) PCC_RETURN_IF_ERROR(ReadTensor(r, i, &m.tensors[i]));
    return Status::Ok();
  });
}

std::string Encode(const Registered& m) {
  Writer w;
  w.U32(m.table_version);
  w.U64(m.total_bytes);
  return w.Take();
}

Result<Registered> DecodeRegistered(std::string_view b) {
  return DecodeAll<Registered>(b, "Registered", [](Reader& r, Registered& m) {
    PCC_RETURN_IF_ERROR(r.U32(&m.table_version, "table_version"));
    return r.U64(&m.total_bytes, "total_bytes");
  });
}

std::string Encode(const Restore& m) {
  Writer w;
  w.Bool(m.step.has_value());
  if (m.step) w.U64(*m.step);
  return w.Take();
}

Result<Restore> DecodeRestore(std::string_view b) {
  return DecodeAll<Restore>(b, "Restore", [](Reader& r, Restore& m) {
    return r.Optional(&m.step, "has_step flag",
                      [&r](uint64_t* step) { return r.U64(step, "step"); });
  });
}

std::string Encode(const Restored& m) {
  Writer w;
  w.U64(m.step);
  w.Str(m.user_blob);
  w.U64(m.bytes);
  w.Str(m.source);
  w.U32(static_cast<uint32_t>(m.skipped.size()));
  for (const std::string& s : m.skipped) w.Str(s);
  return w.Take();
}

Result<Restored> DecodeRestored(std::string_view b) {
  return DecodeAll<Restored>(b, "Restored", [](Reader& r, Restored& m) {
    PCC_RETURN_IF_ERROR(r.U64(&m.step, "step"));
    PCC_RETURN_IF_ERROR(r.Str(&m.user_blob, kMaxUserBlobBytes, "user blob"));
    PCC_RETURN_IF_ERROR(r.U64(&m.bytes, "bytes"));
    PCC_RETURN_IF_ERROR(r.Str(&m.source, kMaxStringBytes, "source"));
    if (m.source != "disk" && m.source != "memory") {
      return r.Fail("source '" + m.source.substr(0, 64) + "' is neither 'disk' nor 'memory'");
    }
    uint32_t count = 0;
    PCC_RETURN_IF_ERROR(r.Count(&count, kMaxTensors, kMinStringBytes, "skipped count"));
    m.skipped.resize(count);
    for (std::string& s : m.skipped) {
      PCC_RETURN_IF_ERROR(r.Str(&s, kMaxNameBytes, "skipped tensor name"));
    }
    return Status::Ok();
  });
}

std::string Encode(const ListReply& m) {
  Writer w;
  w.U32(static_cast<uint32_t>(m.entries.size()));
  for (const ListReply::Entry& e : m.entries) {
    w.U64(e.step);
    w.U64(e.bytes);
    w.U64(static_cast<uint64_t>(e.wall_time));
    w.Bool(e.latest);
  }
  return w.Take();
}

Result<ListReply> DecodeListReply(std::string_view b) {
  return DecodeAll<ListReply>(b, "ListReply", [](Reader& r, ListReply& m) {
    uint32_t count = 0;
    PCC_RETURN_IF_ERROR(r.Count(&count, kMaxListEntries, kMinListEntryBytes, "entry count"));
    m.entries.resize(count);
    size_t latest = 0;
    for (ListReply::Entry& e : m.entries) {
      PCC_RETURN_IF_ERROR(r.U64(&e.step, "entry step"));
      PCC_RETURN_IF_ERROR(r.U64(&e.bytes, "entry bytes"));
      PCC_RETURN_IF_ERROR(r.I64(&e.wall_time, "entry wall time"));
      PCC_RETURN_IF_ERROR(r.Bool(&e.latest, "entry latest flag"));
      latest += e.latest;
    }
    if (latest > 1) return r.Fail(std::to_string(latest) + " entries are marked latest");
    return Status::Ok();
  });
}

std::string Encode(const StatusReply& m) {
  Writer w;
  w.Str(m.json);
  return w.Take();
}

Result<StatusReply> DecodeStatusReply(std::string_view b) {
  return DecodeAll<StatusReply>(b, "StatusReply", [](Reader& r, StatusReply& m) {
    return r.Str(&m.json, kMaxJsonBytes, "json");
  });
}

namespace {

// A list of exactly-64-byte handles, at most `max` of them.
void WriteHandles(Writer& w, const std::vector<std::string>& handles) {
  w.U32(static_cast<uint32_t>(handles.size()));
  for (const std::string& h : handles) w.Str(h);
}

Status ReadHandles(Reader& r, std::vector<std::string>* handles, uint32_t max, const char* what) {
  uint32_t count = 0;
  PCC_RETURN_IF_ERROR(r.Count(&count, max, kMinStringBytes + kIpcHandleBytes, what));
  handles->resize(count);
  for (std::string& h : *handles) {
    PCC_RETURN_IF_ERROR(r.Str(&h, kIpcHandleBytes, "event handle"));
    if (h.size() != kIpcHandleBytes) {
      return r.Fail("event handle of " + std::to_string(h.size()) + " bytes (expected 64)");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string Encode(const GpuSetup& m) {
  Writer w;
  w.U32(m.ready_device);
  WriteHandles(w, m.ready_events);
  w.U32(static_cast<uint32_t>(m.devices.size()));
  for (uint32_t d : m.devices) w.U32(d);
  w.U64(m.staging_bytes);
  return w.Take();
}

Result<GpuSetup> DecodeGpuSetup(std::string_view b) {
  return DecodeAll<GpuSetup>(b, "GpuSetup", [](Reader& r, GpuSetup& m) {
    PCC_RETURN_IF_ERROR(r.U32(&m.ready_device, "ready_device"));
    PCC_RETURN_IF_ERROR(ReadHandles(r, &m.ready_events, kMaxEventSlots, "ready event count"));
    if (m.ready_events.empty()) return r.Fail("no ready events");
    uint32_t count = 0;
    PCC_RETURN_IF_ERROR(r.Count(&count, kMaxGpuDevices, 4, "device count"));
    if (count == 0) return r.Fail("no devices");
    m.devices.resize(count);
    for (size_t i = 0; i < count; ++i) {
      PCC_RETURN_IF_ERROR(r.U32(&m.devices[i], "device"));
      for (size_t j = 0; j < i; ++j) {
        if (m.devices[j] == m.devices[i]) {
          return r.Fail("device " + std::to_string(m.devices[i]) + " is listed twice");
        }
      }
    }
    return r.U64(&m.staging_bytes, "staging_bytes");
  });
}

std::string Encode(const GpuReady& m) {
  Writer w;
  w.U32(static_cast<uint32_t>(m.done_events.size()));
  for (const auto& handles : m.done_events) WriteHandles(w, handles);
  w.Str(m.staging_handle);
  w.U64(m.staging_bytes);
  return w.Take();
}

Result<GpuReady> DecodeGpuReady(std::string_view b) {
  return DecodeAll<GpuReady>(b, "GpuReady", [](Reader& r, GpuReady& m) {
    uint32_t count = 0;
    PCC_RETURN_IF_ERROR(r.Count(&count, kMaxGpuDevices, 4, "device count"));
    m.done_events.resize(count);
    for (auto& handles : m.done_events) {
      PCC_RETURN_IF_ERROR(ReadHandles(r, &handles, kMaxEventSlots, "done event count"));
    }
    PCC_RETURN_IF_ERROR(r.Str(&m.staging_handle, kIpcHandleBytes, "staging handle"));
    PCC_RETURN_IF_ERROR(r.U64(&m.staging_bytes, "staging_bytes"));
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

}  // namespace pccheck::wire
