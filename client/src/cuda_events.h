// The interprocess CUDA events of GPU saves, on the client's side (CUDA builds
// only; the rules for using them are in gpu_saves.h).
//
//   ReadyEvents  one per slot, created here on the trainer's device and
//                exported to the daemon; save() records one on the trainer's
//                stream once the state is final.
//   DoneEvents   the daemon's, one per device and slot, opened from its
//                kGpuReady reply; the trainer's stream waits on them before
//                the next update.
//
// Both destroy what they created or opened, once. Not thread-safe.
#pragma once

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pccheck/status.h"
#include "proto/wire.h"

namespace pccheck::client {

class ReadyEvents {
 public:
  static Result<std::unique_ptr<ReadyEvents>> Create(int device, uint32_t slots);
  ~ReadyEvents();
  ReadyEvents(const ReadyEvents&) = delete;
  ReadyEvents& operator=(const ReadyEvents&) = delete;

  int device() const { return device_; }
  uint32_t slots() const { return static_cast<uint32_t>(events_.size()); }
  const std::vector<std::string>& handles() const { return handles_; }
  // REQUIRES: slot < slots(); the stream is on device().
  Status Record(uint32_t slot, cudaStream_t stream) const;
  Status StreamWait(cudaStream_t stream, uint32_t slot) const;

 private:
  explicit ReadyEvents(int device) : device_(device) {}
  const int device_;
  std::vector<cudaEvent_t> events_;
  std::vector<std::string> handles_;
};

class DoneEvents {
 public:
  // Opens reply.done_events[i] as the events of devices[i]. Corruption when
  // the reply does not hold `slots` handles for each device.
  static Result<std::shared_ptr<const DoneEvents>> Open(const std::vector<int>& devices,
                                                        const wire::GpuReady& reply,
                                                        uint32_t slots);
  ~DoneEvents();
  DoneEvents(const DoneEvents&) = delete;
  DoneEvents& operator=(const DoneEvents&) = delete;

  // Makes `stream` (of ready_device) wait on done[ready_device][slot], which
  // the daemon records after the copies of every device. REQUIRES: the daemon
  // said it recorded them for the save in `slot` (kCopiesQueued).
  Status StreamWait(cudaStream_t stream, uint32_t slot, int ready_device) const;

 private:
  DoneEvents() = default;
  std::vector<std::pair<int, std::vector<cudaEvent_t>>> events_;  // (device, [slot])
};

}  // namespace pccheck::client
#endif
