// libpccheck: how a training process talks to pccheckd (C++ API).
//
// A Client is one session with the daemon for one job and rank. save()
// returns as soon as the request is on the shared-memory ring; the daemon
// snapshots the registered tensors, writes them and commits in the
// background. Before the trainer next changes its tensors it calls
// BeforeUpdate(), which returns once the daemon holds its own copy.
//
// Errors are values: every call returns a Status or Result naming the cause.
// When the daemon dies, calls fail with kUnavailable naming the socket; they
// never hang and never crash the trainer, and a later call reconnects
// (re-registering the same tensors and shared memory).
//
// Thread-safety: a Client is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pccheck/status.h"

namespace pccheck {

struct ClientOptions {
  std::string socket;  // empty: the default socket path (DefaultSocketPath())
  std::string job;
  uint32_t rank = 0;
};

// The path pccheckd listens on by default for this user: $PCCHECK_SOCKET when
// set, else the daemon's own default (the same rule as its `socket` setting).
std::string DefaultSocketPath();
// pccheckd's default store directory for this user (its `root` setting's
// rule); "" when no home directory can be found.
std::string DefaultStoreRootPath();

// A tensor in the trainer's memory. `data` may point anywhere: memory from
// AllocateShared() is snapshotted with no copy by the trainer; any other
// host memory is copied into a shared staging area at each save.
struct HostTensor {
  std::string name;
  std::string dtype;  // "float32", "bfloat16", ...
  std::vector<int64_t> shape;
  void* data = nullptr;
  uint64_t bytes = 0;
};

// A tensor in host memory (device < 0, as HostTensor) or in the memory of
// CUDA device `device` (from cudaMalloc or a caching allocator built on it).
struct DeviceTensor {
  HostTensor tensor;
  int device = -1;
};

// How RegisterDevices snapshots GPU tensors.
enum class GpuSnapshot {
  // The daemon copies from the tensors themselves through CUDA IPC; before
  // the next update the trainer's stream waits (on the GPU) for that copy.
  kDirect,
  // snapshot="gpu": each save copies them device-to-device into a GPU buffer
  // the daemon owns, so they are free at once; costs that much GPU memory.
  kStaging,
};

struct CheckpointEntry {
  uint64_t step = 0;
  uint64_t bytes = 0;
  int64_t wall_time = 0;
  bool latest = false;
};

struct RestoreInfo {
  uint64_t step = 0;
  std::string user_blob;
  // "disk", "memory" (the daemon's resident copy of a commit) or
  // "memory (not yet durable)": a complete snapshot in the daemon's pool,
  // newer than anything on disk (the memory tier, policy `coalesce`).
  std::string source;
  std::vector<std::string> skipped;  // damaged checkpoints passed over
};

// The outcome of one save, by ticket.
// kCoalesced: a newer snapshot superseded it before its writing began (policy
// `coalesce`); it ended, was never written, and is not an error.
enum class SaveState { kPending, kSnapshotDone, kCommitted, kFailed, kCoalesced };

class Client {
 public:
  // Connects and performs the handshake. Unavailable (naming the socket and
  // how to start pccheckd) when the daemon is not there; PermissionDenied
  // when it refuses this user.
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();  // closes the session; saves already snapshotted still commit
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Host memory the daemon maps too (page-aligned, zeroed). Tensors built on
  // it are snapshotted without any copy in the trainer. Valid until the
  // Client is destroyed, across daemon restarts.
  Result<void*> AllocateShared(uint64_t bytes);

  // Declares the tensors every later save() checkpoints (replaces the
  // previous table). Waits for saves in flight to finish their snapshot.
  Status Register(const std::vector<HostTensor>& tensors);

  // Like Register, for a table that may hold GPU tensors. Each GPU tensor's
  // allocation is shared with the daemon once (kDirect), or the daemon makes
  // a staging buffer for them (kStaging); calling it again after storage
  // moved re-sends the table and reuses what the daemon has open. Unavailable
  // when this libpccheck was built without CUDA or the daemon has no GPU;
  // InvalidArgument naming the tensor, the cause and the fix for memory that
  // cannot be shared (PyTorch's expandable segments in kDirect mode).
  Status RegisterDevices(const std::vector<DeviceTensor>& tensors,
                         GpuSnapshot mode = GpuSnapshot::kDirect);

  // Starts a checkpoint of the registered tensors at `step` with an opaque
  // blob, returns its ticket at once. Fails fast with kBusy when the daemon's
  // policy is `skip` and it is saturated, or when the request ring is full.
  // With GPU tensors: SaveOnStream(step, nullptr, user_blob).
  Result<uint64_t> Save(uint64_t step, std::string_view user_blob = {});
  // GPU tables: the state is final on `stream` (a cudaStream_t of the first
  // GPU tensor's device; nullptr: its legacy default stream): records the
  // "ready" event there (kStaging: after copying the tensors into the staging
  // buffer on that stream) and posts the request; the CPU does not wait.
  // It waits only when every event slot (max_inflight + 1) is still taken by
  // a save whose copies have not finished. Host tables: Save().
  Result<uint64_t> SaveOnStream(uint64_t step, void* stream, std::string_view user_blob = {});
  // Returns once every save so far has been snapshotted (the tensors may then
  // change), or the first snapshot failure.
  Status BeforeUpdate(int timeout_ms = -1);
  // GPU tables: makes `stream` wait, on the GPU, until the daemon's copies of
  // every save so far are done (kStaging: until the copy into the staging
  // buffer is), so the next update may be queued at once. The CPU waits only
  // until the daemon has queued its copies (it may have to wait for pool
  // memory: the `block` policy). Returns the first snapshot failure since the
  // last call, like BeforeUpdate. Host tables: BeforeUpdate().
  Status BeforeUpdateStream(void* stream, int timeout_ms = -1);
  // Waits for the save to end: committed or coalesced (ok; Poll tells which)
  // or failed (its error).
  Status Wait(uint64_t ticket, int timeout_ms = -1);
  // Non-blocking view of a save.
  Result<SaveState> Poll(uint64_t ticket);
  // Waits for every save in flight; returns the first failure not reported
  // yet, if any. A save abandoned because a newer one of this client committed
  // (newest wins) is not a failure here; Wait(ticket) still reports it.
  Status WaitAll(int timeout_ms = -1);
  // Waits until the newest save requested so far is durable (committed):
  // every save has ended and the newest committed. Its failure otherwise.
  Status WaitDurable(int timeout_ms = -1);
  // The newest step whose snapshot is complete (in the daemon's memory or on
  // disk), and the newest durable (committed) step, as this client saw them
  // (the durable one includes what was committed before it connected).
  std::optional<uint64_t> NewestSnapshotStep();
  std::optional<uint64_t> NewestDurableStep();

  Result<std::optional<uint64_t>> LatestStep();
  Result<std::vector<CheckpointEntry>> List();
  // Restores `step` (default: newest committed that verifies) into the
  // registered tensors, GPU ones included (from disk: RestoreInfo::source).
  Result<RestoreInfo> Restore(std::optional<uint64_t> step = std::nullopt);

  // The daemon's status document (JSON), as `pccheck status --json` prints it.
  Result<std::string> StatusJson();

  const ClientOptions& options() const;
  bool connected() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Asks a daemon for its status without opening a session.
Result<std::string> QueryStatusJson(const std::string& socket);

}  // namespace pccheck
