// GpuRegistry: the GPU side of one session.
//
//   * The client's allocation bases, opened through CUDA IPC and cached by
//     handle: cudaIpcOpenMemHandle is slow, so each base is opened once while
//     anything (the tensor table, a save in flight) still holds it, and a
//     table sent again after storage moved reuses every base still open.
//   * The events that order saves with the trainer's stream, one pair per
//     in-flight slot: "ready" (the client's, opened here) and "done" (created
//     here, one per device and slot, exported to the client).
//   * Staging mode's buffer: device memory the daemon owns and exports; the
//     client copies its tensors into it and registers them there.
//
// Used by the session's thread only. Everything it hands out is a shared_ptr:
// a new setup or table replaces the registry's references while saves in
// flight keep theirs, so nothing is closed or freed under a queued copy.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpu/gpu.h"
#include "gpu/ipc_resources.h"
#include "proto/wire.h"

namespace pccheck {

// One setup's events; immutable once built.
struct GpuEvents {
  int ready_device = 0;
  std::vector<std::shared_ptr<SharedEvent>> ready;                // [slot]
  std::map<int, std::vector<std::shared_ptr<SharedEvent>>> done;  // [device][slot]
  uint32_t slots() const { return static_cast<uint32_t>(ready.size()); }
};

class GpuRegistry {
 public:
  // slots: the session's in-flight slots (max_inflight + 1). gpu may have no
  // devices (or be null): then every call fails with Unavailable.
  GpuRegistry(Gpu* gpu, uint32_t slots) : gpu_(gpu), slots_(slots) {}
  GpuRegistry(const GpuRegistry&) = delete;
  GpuRegistry& operator=(const GpuRegistry&) = delete;

  // Ok when this daemon can reach GPU memory; else Unavailable saying why not.
  Status Available() const;

  // Answers kGpuSetup: opens the client's ready events, creates done events
  // for every listed device, and allocates the staging buffer (keeping the
  // current one when it is on that device and large enough). On failure the
  // previous setup stays in force.
  Result<wire::GpuReady> Setup(const wire::GpuSetup& msg);

  // The memory a kCudaIpc tensor lives in: the session's own staging buffer
  // when the handle is its handle, else the client's allocation (opened, or
  // found open). Fails unless the tensor lies inside the memory's true
  // extent: offset + bytes <= its size.
  Result<std::shared_ptr<DeviceMemory>> Resolve(const wire::TensorSpec& t);

  // The events of the current setup; null before the first.
  std::shared_ptr<const GpuEvents> events() const { return events_; }
  // Bases currently open (for tests and status).
  size_t open_bases() const;

  // Drops the registry's own references (the session ends).
  void Clear();

 private:
  Status CheckDevice(uint32_t device) const;

  Gpu* const gpu_;
  const uint32_t slots_;
  // (device, handle) -> the open mapping, while anything holds it.
  std::map<std::pair<int, std::string>, std::weak_ptr<DeviceMemory>> bases_;
  std::shared_ptr<const GpuEvents> events_;
  std::shared_ptr<DeviceMemory> staging_;
};

}  // namespace pccheck
