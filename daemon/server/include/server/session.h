// Session: one connected client (a trainer's rank) of pccheckd.
//
// Owns the client's control segment (rings and blob slots), its arenas (host
// tensor memory mapped in both processes), its GPU registry (the client's
// device memory opened through CUDA IPC, the ordering events, the staging
// buffer; gpu_registry.h), its tensor table and the saves it has in flight. One thread serves it:
// it waits on the socket (control frames; EOF means the client died) and on the request eventfd
// (saves on the ring). Everything read from the client is copied out once and validated; a
// malformed message ends the session with a logged reason, never the daemon.
//
// When the session ends, saves whose snapshot is complete still commit; the
// others are abandoned and their memory returned.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gpu/gpu.h"
#include "ipc/ring.h"
#include "ipc/shm.h"
#include "ipc/socket.h"
#include "proto/wire.h"
#include "report/session_info.h"
#include "server/gpu_registry.h"

namespace pccheck {

struct SessionLimits {
  uint32_t ring_slots = 256;
  uint32_t blob_slots = 8;
  uint64_t blob_slot_bytes = 16ull << 20;
  uint64_t max_arena_bytes = 1ull << 40;
};

class Session {
 public:
  // Answers the client's Hello with Welcome (segment and eventfds attached).
  // gpu (null, or without devices, when there is no GPU) must outlive the
  // session and every save it started.
  static Result<std::shared_ptr<Session>> Open(uint64_t id, UnixSocket socket, const PeerCred& peer,
                                               const wire::Hello& hello,
                                               const SessionLimits& limits, Engine* engine,
                                               Gpu* gpu, int64_t now);
  ~Session();

  // Serves the client until it leaves, misbehaves or Stop() is called.
  // Returns why the session ended (ok: orderly goodbye).
  Status Serve();
  // Asks Serve() to return soon (thread-safe).
  void Stop();
  SessionInfo Info() const;
  // The client hung up (its end of the socket is closed), whether or not
  // Serve() has noticed yet.
  bool PeerGone() const;

 private:
  struct Registered {
    std::vector<TensorSource> sources;
    uint32_t version = 0;
    uint64_t bytes = 0;
    // GPU tensors: the memory they live in (kept open while registered) and
    // their devices, each once.
    std::vector<std::shared_ptr<DeviceMemory>> device_memory;
    std::vector<int> devices;
    bool host = false;  // some tensors are in host memory (arenas)
  };
  // Completions are posted from engine threads; this keeps them in order and
  // holds any that do not fit on a full ring until the client makes room.
  struct Outbox;

  Session(uint64_t id, UnixSocket socket, const PeerCred& peer, const wire::Hello& hello,
          const SessionLimits& limits, Engine* engine, Gpu* gpu, int64_t now);
  Status Handshake();
  Status HandleFrame(const Frame& frame);
  Status HandleRing();
  Status HandleSave(const wire::SaveMsg& msg);
  Status HandleAllocArena(const Frame& frame);
  Status HandleRegister(const Frame& frame);
  Status HandleRestore(const Frame& frame);
  Status HandleList();
  // session_gpu.cc: GPU tensors and the ordering of GPU saves.
  Status HandleGpuSetup(const Frame& frame);
  // Where the kCudaIpc tensor `t` is, in the daemon: its source, with the
  // memory it lives in added to `table`.
  Result<TensorSource> DeviceSource(const wire::TensorSpec& t, Registered* table);
  // Makes the copies of `req` wait for the client's ready event of
  // msg.event_slot and record the done events after them (HandleSave then
  // posts kCopiesQueued). *keep receives what must stay alive until the save
  // ends.
  Status OrderWithTrainer(const wire::SaveMsg& msg, SaveRequest* req,
                          std::shared_ptr<const GpuEvents>* keep);
  Status ReplyError(const Status& s);
  void Teardown();

  const uint64_t id_;
  UnixSocket socket_;
  const PeerCred peer_;
  const wire::Hello hello_;
  const SessionLimits limits_;
  Engine* const engine_;
  const int64_t connected_at_;

  wire::SegmentLayout layout_;
  std::shared_ptr<SharedMemory> segment_;
  wire::RingView requests_;
  std::shared_ptr<Outbox> outbox_;
  EventFd request_event_;
  EventFd completion_event_;
  EventFd stop_event_;

  std::map<uint32_t, std::shared_ptr<SharedMemory>> arenas_;
  uint32_t next_arena_ = 1;
  GpuRegistry gpu_;
  Registered table_;

  mutable std::mutex mu_;  // guards inflight_, saves_ and writes of table_
  std::vector<std::shared_ptr<SaveHandle>> inflight_;
  uint64_t saves_ = 0;
};

}  // namespace pccheck
