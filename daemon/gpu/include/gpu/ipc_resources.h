// Owners of what the daemon shares with a client through CUDA IPC, on the Gpu
// seam: device memory (a client's allocation opened from its handle, or a
// staging buffer the daemon allocated and exports) and interprocess events
// (a client's "ready" events opened from their handles, or the daemon's own
// "done" events it created and exports).
//
// Each object gives back exactly what it took (close, free or destroy), once,
// in its destructor; a failure there is logged, never thrown. Saves in flight
// hold them by shared_ptr, so nothing is closed under a queued copy or a
// pending stream wait. Immutable after creation: safe to share across threads.
// The Gpu must outlive them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gpu/gpu.h"

namespace pccheck {

class DeviceMemory {
 public:
  // Opens the allocation `handle` exports on `device`. The client claims it
  // holds claimed_bytes; where the driver reports the true size, a claim
  // beyond it is refused (a copy past the mapping would fault the daemon's
  // context), and bytes() is the true size; elsewhere bytes() is the claim.
  static Result<std::shared_ptr<DeviceMemory>> Import(Gpu* gpu, int device,
                                                      const std::string& handle,
                                                      uint64_t claimed_bytes);
  // Allocates `bytes` on `device` and exports it (handle() is for the client).
  static Result<std::shared_ptr<DeviceMemory>> Allocate(Gpu* gpu, int device, uint64_t bytes);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t bytes() const { return bytes_; }
  int device() const { return device_; }
  const std::string& handle() const { return handle_; }
  bool owned() const { return owned_; }  // allocated here, not imported

 private:
  DeviceMemory(Gpu* gpu, int device, uint8_t* data, uint64_t bytes, std::string handle, bool owned)
      : gpu_(gpu),
        device_(device),
        data_(data),
        bytes_(bytes),
        handle_(std::move(handle)),
        owned_(owned) {}
  Gpu* const gpu_;
  const int device_;
  uint8_t* const data_;
  const uint64_t bytes_;
  const std::string handle_;
  const bool owned_;
};

class SharedEvent {
 public:
  // A new interprocess event on `device`; handle() exports it.
  static Result<std::shared_ptr<SharedEvent>> Create(Gpu* gpu, int device);
  // The event another process exported as `handle`.
  static Result<std::shared_ptr<SharedEvent>> Open(Gpu* gpu, int device, const std::string& handle);
  ~SharedEvent();
  SharedEvent(const SharedEvent&) = delete;
  SharedEvent& operator=(const SharedEvent&) = delete;

  void* get() const { return event_; }  // a cudaEvent_t
  int device() const { return device_; }
  const std::string& handle() const { return handle_; }

 private:
  SharedEvent(Gpu* gpu, int device, void* event, std::string handle)
      : gpu_(gpu), device_(device), event_(event), handle_(std::move(handle)) {}
  Gpu* const gpu_;
  const int device_;
  void* const event_;
  const std::string handle_;
};

}  // namespace pccheck
