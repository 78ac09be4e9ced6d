// FakeIpcGpu: the Gpu seam with CUDA IPC emulated inside one process, so the
// daemon's GPU session logic (gpu_registry.h, session_gpu.cc) is tested on a
// machine without a GPU. "Device memory" is host memory; a memory handle
// carries a host buffer's address and size, an event handle an event's
// address. Copies, stream waits and event records are logged in order, so a
// test can check that copies come after "ready" and before "done".
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/gpu.h"

namespace pccheck::testing {

class FakeIpcGpu final : public Gpu {
 public:
  explicit FakeIpcGpu(int devices = 1);

  // A handle another process would have made with cudaIpcGetMemHandle for
  // `bytes` of memory at p (the size the driver would report).
  static std::string MemHandle(const void* p, uint64_t bytes);
  // An event "the client" created; returns its handle.
  std::string ClientEvent(const std::string& name);

  // Counters and the log ("copy", "wait <name>", "record <name>").
  int opened() const;              // OpenMemHandle calls
  int closed() const;              // CloseMemHandle calls
  int freed() const;               // FreeShared calls
  int live_daemon_events() const;  // created or opened and not destroyed
  std::vector<std::string> Log() const;
  void ClearLog();

  std::string Describe() const override { return "fake GPU with IPC"; }
  int DeviceCount() const override { return devices_; }
  Result<void*> AllocHost(size_t bytes, bool* locked) override;
  void FreeHost(void* ptr, size_t bytes) override;
  Status CopyToHost(int device, void* dst, const void* src, size_t n) override;
  Status CopyToDevice(int device, void* dst, const void* src, size_t n) override;
  Result<Fence> Record(int device) override;
  Status Wait(const Fence&) override { return Status::Ok(); }
  Status StreamWaitEvent(int device, void* event) override;
  Status RecordEvent(int device, void* event) override;
  // Logs "query <name>"; true unless HoldEvent(name) holds it back.
  Result<bool> EventDone(int device, void* event) override;
  // Until Release, EventDone of the event named `name` reports false.
  void HoldEvent(const std::string& name);
  void Release();
  Result<void*> OpenMemHandle(int device, std::string_view handle, uint64_t* bytes) override;
  Status CloseMemHandle(int device, void* ptr) override;
  Result<void*> AllocShared(int device, uint64_t bytes, std::string* handle) override;
  Status FreeShared(int device, void* ptr) override;
  Result<void*> CreateSharedEvent(int device, std::string* handle) override;
  Result<void*> OpenEventHandle(int device, std::string_view handle) override;
  Status DestroyEvent(int device, void* event) override;

 private:
  struct Event {
    std::string name;
  };
  Status CheckDevice(int device) const;
  std::string EventHandle(Event* e) const;

  const int devices_;
  std::unique_ptr<Gpu> host_;  // FakeGpu for pinned memory and copies
  mutable std::mutex mu_;
  std::deque<Event> events_;                      // stable addresses
  std::map<void*, std::vector<uint8_t>> shared_;  // AllocShared buffers
  std::vector<std::string> log_;
  std::string held_;
  int opened_ = 0, closed_ = 0, freed_ = 0, live_events_ = 0, daemon_events_ = 0;
};

}  // namespace pccheck::testing
