// The C ABI (pccheck.h) over the C++ API: opaque handles, int codes, and a
// malloc()ed message in *errptr. No C++ exception crosses it.
#include <cstdlib>
#include <cstring>
#include <exception>

#include "c_guard.h"
#include "pccheck.h"
#include "pccheck/client.h"

using pccheck::Code;
using pccheck::Status;
using pccheck::capi::Guard;

struct pccheck_client {
  std::unique_ptr<pccheck::Client> client;
};

namespace {

static_assert(PCCHECK_EINVAL == static_cast<int>(Code::kInvalidArgument));
static_assert(PCCHECK_ENOTFOUND == static_cast<int>(Code::kNotFound));
static_assert(PCCHECK_EIO == static_cast<int>(Code::kIoError));
static_assert(PCCHECK_ENOSPC == static_cast<int>(Code::kNoSpace));
static_assert(PCCHECK_ECORRUPT == static_cast<int>(Code::kCorruption));
static_assert(PCCHECK_EBUSY == static_cast<int>(Code::kBusy));
static_assert(PCCHECK_EABORTED == static_cast<int>(Code::kAborted));
static_assert(PCCHECK_EUNAVAILABLE == static_cast<int>(Code::kUnavailable));
static_assert(PCCHECK_EPERM == static_cast<int>(Code::kPermissionDenied));
static_assert(PCCHECK_EINTERNAL == static_cast<int>(Code::kInternal));
static_assert(PCCHECK_ETIMEOUT == static_cast<int>(Code::kTimeout));
static_assert(Code::kTimeout == pccheck::kLastCode,
              "a new code needs a PCCHECK_E* of the same value");
static_assert(PCCHECK_PENDING == static_cast<int>(pccheck::SaveState::kPending));
static_assert(PCCHECK_SNAPSHOT_DONE == static_cast<int>(pccheck::SaveState::kSnapshotDone));
static_assert(PCCHECK_COMMITTED == static_cast<int>(pccheck::SaveState::kCommitted));
static_assert(PCCHECK_FAILED == static_cast<int>(pccheck::SaveState::kFailed));
static_assert(PCCHECK_COALESCED == static_cast<int>(pccheck::SaveState::kCoalesced));

Status NoClient() { return Status::InvalidArgument("pccheck_client is NULL"); }

// A malloc()ed copy of n bytes (never NULL on success, even for n == 0).
void* Copy(const void* p, size_t n) {
  void* out = std::malloc(n == 0 ? 1 : n);
  if (out == nullptr) throw std::bad_alloc();
  if (n > 0) std::memcpy(out, p, n);
  return out;
}

// The tensor table of pccheck_register*, checked for NULLs.
pccheck::Result<std::vector<pccheck::HostTensor>> Tensors(
    const char* call, size_t n, const char* const* names, const char* const* dtypes,
    const int64_t* const* shapes, const uint32_t* ndims, void* const* data, const uint64_t* bytes) {
  if (n > 0 && (names == nullptr || dtypes == nullptr || ndims == nullptr || data == nullptr ||
                bytes == nullptr)) {
    return Status::InvalidArgument(std::string(call) + ": an array argument is NULL");
  }
  std::vector<pccheck::HostTensor> tensors(n);
  for (size_t i = 0; i < n; ++i) {
    if (names[i] == nullptr || dtypes[i] == nullptr || (ndims[i] > 0 && shapes == nullptr) ||
        (ndims[i] > 0 && shapes[i] == nullptr)) {
      return Status::InvalidArgument(std::string(call) + ": tensor " + std::to_string(i) +
                                     " has a NULL name, dtype or shape");
    }
    tensors[i].name = names[i];
    tensors[i].dtype = dtypes[i];
    if (ndims[i] > 0) tensors[i].shape.assign(shapes[i], shapes[i] + ndims[i]);
    tensors[i].data = data[i];
    tensors[i].bytes = bytes[i];
  }
  return tensors;
}

}  // namespace

extern "C" {

int pccheck_connect(const char* socket, const char* job, uint32_t rank, pccheck_client** out,
                    char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (out == nullptr) return Status::InvalidArgument("pccheck_connect: out is NULL");
    *out = nullptr;
    pccheck::ClientOptions options;
    options.socket = socket != nullptr ? socket : "";
    options.job = job != nullptr ? job : "";
    options.rank = rank;
    PCC_ASSIGN_OR_RETURN(auto client, pccheck::Client::Connect(options));
    *out = new pccheck_client{std::move(client)};
    return Status::Ok();
  });
}

void pccheck_close(pccheck_client* c) { delete c; }

int pccheck_alloc_shared(pccheck_client* c, uint64_t bytes, void** out, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    if (out == nullptr) return Status::InvalidArgument("pccheck_alloc_shared: out is NULL");
    PCC_ASSIGN_OR_RETURN(*out, c->client->AllocateShared(bytes));
    return Status::Ok();
  });
}

int pccheck_register(pccheck_client* c, size_t n, const char* const* names,
                     const char* const* dtypes, const int64_t* const* shapes, const uint32_t* ndims,
                     void* const* data, const uint64_t* bytes, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    PCC_ASSIGN_OR_RETURN(auto tensors,
                         Tensors("pccheck_register", n, names, dtypes, shapes, ndims, data, bytes));
    return c->client->Register(tensors);
  });
}

int pccheck_register_devices(pccheck_client* c, size_t n, const char* const* names,
                             const char* const* dtypes, const int64_t* const* shapes,
                             const uint32_t* ndims, void* const* data, const uint64_t* bytes,
                             const int32_t* devices, int snapshot_gpu, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    PCC_ASSIGN_OR_RETURN(auto host, Tensors("pccheck_register_devices", n, names, dtypes, shapes,
                                            ndims, data, bytes));
    if (n > 0 && devices == nullptr) {
      return Status::InvalidArgument("pccheck_register_devices: devices is NULL");
    }
    std::vector<pccheck::DeviceTensor> tensors(n);
    for (size_t i = 0; i < n; ++i) tensors[i] = {std::move(host[i]), devices[i]};
    return c->client->RegisterDevices(tensors, snapshot_gpu != 0 ? pccheck::GpuSnapshot::kStaging
                                                                 : pccheck::GpuSnapshot::kDirect);
  });
}

int pccheck_save_on_stream(pccheck_client* c, uint64_t step, const void* blob, size_t blob_len,
                           void* stream, uint64_t* ticket, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    if (blob == nullptr && blob_len > 0) {
      return Status::InvalidArgument("pccheck_save_on_stream: blob is NULL");
    }
    std::string_view view(static_cast<const char*>(blob), blob == nullptr ? 0 : blob_len);
    PCC_ASSIGN_OR_RETURN(uint64_t t, c->client->SaveOnStream(step, stream, view));
    if (ticket != nullptr) *ticket = t;
    return Status::Ok();
  });
}

int pccheck_before_update_stream(pccheck_client* c, void* stream, int timeout_ms, char** errptr) {
  return Guard(errptr, [&] {
    return c == nullptr ? NoClient() : c->client->BeforeUpdateStream(stream, timeout_ms);
  });
}

int pccheck_save(pccheck_client* c, uint64_t step, const void* blob, size_t blob_len,
                 uint64_t* ticket, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    if (blob == nullptr && blob_len > 0)
      return Status::InvalidArgument("pccheck_save: blob is NULL");
    std::string_view view(static_cast<const char*>(blob), blob == nullptr ? 0 : blob_len);
    PCC_ASSIGN_OR_RETURN(uint64_t t, c->client->Save(step, view));
    if (ticket != nullptr) *ticket = t;
    return Status::Ok();
  });
}

int pccheck_before_update(pccheck_client* c, int timeout_ms, char** errptr) {
  return Guard(errptr,
               [&] { return c == nullptr ? NoClient() : c->client->BeforeUpdate(timeout_ms); });
}

int pccheck_wait(pccheck_client* c, uint64_t ticket, int timeout_ms, char** errptr) {
  return Guard(errptr,
               [&] { return c == nullptr ? NoClient() : c->client->Wait(ticket, timeout_ms); });
}

int pccheck_wait_all(pccheck_client* c, int timeout_ms, char** errptr) {
  return Guard(errptr, [&] { return c == nullptr ? NoClient() : c->client->WaitAll(timeout_ms); });
}

int pccheck_poll(pccheck_client* c, uint64_t ticket, int* state, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    PCC_ASSIGN_OR_RETURN(pccheck::SaveState s, c->client->Poll(ticket));
    if (state != nullptr) *state = static_cast<int>(s);
    return Status::Ok();
  });
}

int pccheck_wait_durable(pccheck_client* c, int timeout_ms, char** errptr) {
  return Guard(errptr,
               [&] { return c == nullptr ? NoClient() : c->client->WaitDurable(timeout_ms); });
}

int pccheck_progress(pccheck_client* c, int* has_snapshot, uint64_t* snapshot_step,
                     int* has_durable, uint64_t* durable_step, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    const auto snap = c->client->NewestSnapshotStep();
    const auto durable = c->client->NewestDurableStep();
    if (has_snapshot != nullptr) *has_snapshot = snap.has_value() ? 1 : 0;
    if (snapshot_step != nullptr) *snapshot_step = snap.value_or(0);
    if (has_durable != nullptr) *has_durable = durable.has_value() ? 1 : 0;
    if (durable_step != nullptr) *durable_step = durable.value_or(0);
    return Status::Ok();
  });
}

int pccheck_latest_step(pccheck_client* c, int* has_step, uint64_t* step, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    PCC_ASSIGN_OR_RETURN(std::optional<uint64_t> latest, c->client->LatestStep());
    if (has_step != nullptr) *has_step = latest.has_value() ? 1 : 0;
    if (step != nullptr) *step = latest.value_or(0);
    return Status::Ok();
  });
}

int pccheck_restore(pccheck_client* c, int64_t step, uint64_t* restored_step, char** blob,
                    size_t* blob_len, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    std::optional<uint64_t> which;
    if (step >= 0) which = static_cast<uint64_t>(step);
    PCC_ASSIGN_OR_RETURN(pccheck::RestoreInfo info, c->client->Restore(which));
    if (restored_step != nullptr) *restored_step = info.step;
    if (blob != nullptr)
      *blob = static_cast<char*>(Copy(info.user_blob.data(), info.user_blob.size()));
    if (blob_len != nullptr) *blob_len = info.user_blob.size();
    return Status::Ok();
  });
}

int pccheck_list(pccheck_client* c, size_t* n, uint64_t** steps, uint64_t** bytes, int** latest,
                 char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (c == nullptr) return NoClient();
    PCC_ASSIGN_OR_RETURN(std::vector<pccheck::CheckpointEntry> entries, c->client->List());
    std::vector<uint64_t> s, b;
    std::vector<int> l;
    for (const auto& e : entries) {
      s.push_back(e.step);
      b.push_back(e.bytes);
      l.push_back(e.latest ? 1 : 0);
    }
    if (n != nullptr) *n = entries.size();
    if (steps != nullptr)
      *steps = static_cast<uint64_t*>(Copy(s.data(), s.size() * sizeof(uint64_t)));
    if (bytes != nullptr)
      *bytes = static_cast<uint64_t*>(Copy(b.data(), b.size() * sizeof(uint64_t)));
    if (latest != nullptr) *latest = static_cast<int*>(Copy(l.data(), l.size() * sizeof(int)));
    return Status::Ok();
  });
}

int pccheck_status_json(const char* socket, char** json, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (json == nullptr) return Status::InvalidArgument("pccheck_status_json: json is NULL");
    PCC_ASSIGN_OR_RETURN(std::string doc,
                         pccheck::QueryStatusJson(socket != nullptr ? socket : ""));
    *json = static_cast<char*>(Copy(doc.c_str(), doc.size() + 1));
    return Status::Ok();
  });
}

void pccheck_free(void* p) { std::free(p); }

const char* pccheck_version(void) { return PCCHECK_VERSION; }

int pccheck_default_socket_path(char** path, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (path == nullptr)
      return Status::InvalidArgument("pccheck_default_socket_path: path is NULL");
    const std::string p = pccheck::DefaultSocketPath();
    *path = static_cast<char*>(Copy(p.c_str(), p.size() + 1));
    return Status::Ok();
  });
}

int pccheck_default_root(char** path, char** errptr) {
  return Guard(errptr, [&]() -> Status {
    if (path == nullptr) return Status::InvalidArgument("pccheck_default_root: path is NULL");
    const std::string p = pccheck::DefaultStoreRootPath();
    if (p.empty()) {
      return Status::NotFound(
          "no default store root: neither $XDG_STATE_HOME nor $HOME nor the password database "
          "names a home directory; pass the store's root explicitly");
    }
    *path = static_cast<char*>(Copy(p.c_str(), p.size() + 1));
    return Status::Ok();
  });
}

}  // extern "C"
