// GpuSession: what a Client keeps for a table with GPU tensors, and the GPU
// half of save() and before_update() (DESIGN.md, "Save, step by step").
//
// One object per registered table; it outlives daemon sessions: Connect()
// sets up the events (and staging buffer) with each new daemon session. The
// interface has no CUDA types, so the client's core compiles without CUDA;
// NewGpuSession is the CUDA implementation (cuda_session.cc), or Unavailable
// in a build without it.
//
// Thread-safety: one thread at a time (the Client's).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "gpu_saves.h"
#include "pccheck/client.h"
#include "proto/wire.h"
#include "session.h"

namespace pccheck::client {

class GpuSession {
 public:
  virtual ~GpuSession() = default;

  // Checks the tensors' memory and, in direct mode, exports their
  // allocations; nothing is asked of the daemon. Returns their specs as far
  // as they are known before a setup (staging mode: placeholders, keyed by
  // the same indices, that Specs() replaces).
  virtual Result<std::map<size_t, wire::TensorSpec>> Prepare() = 0;
  // Whether `other` needs the same daemon-side setup (mode, devices, staging
  // size): then Adopt() takes its events over and no new setup is needed.
  virtual bool SameSetup(const GpuSession& other) const = 0;
  // Takes over `old`'s events, staging mapping and saves in flight.
  virtual void Adopt(GpuSession& old) = 0;
  // Sets up the events (and staging buffer) with the daemon over `session`
  // (kGpuSetup -> kGpuReady), making the ready events on first use. Saves of
  // an earlier session are forgotten. A kError reply is returned as is (the
  // daemon changed nothing; the session stays usable); any failure after the
  // daemon took the setup breaks the session, whose replacement sets up anew.
  virtual Status Connect(Session& session) = 0;
  // The GPU tensors' specs for the current setup, by index in the table.
  // REQUIRES: Prepare() succeeded.
  virtual Result<std::map<size_t, wire::TensorSpec>> Specs() = 0;

  virtual GpuSaves& saves() = 0;
  // The done events of the current setup (opaque), for GpuSaves::Start.
  virtual std::shared_ptr<const void> events() const = 0;
  virtual bool staging() const = 0;

  // save(): records ready[slot] on `stream` once the state is final. Staging
  // mode first makes the stream wait until the daemon drained the staging
  // buffer (REQUIRES: saves().AllQueued()) and copies the tensors into it.
  virtual Status RecordReady(void* stream, uint32_t slot) = 0;
  // before_update(): makes `stream` wait until the tensors may change: on the
  // done events of every save whose copies are queued (direct mode;
  // REQUIRES saves().AllQueued() for full cover), or on the newest save's
  // copy into the staging buffer (staging mode).
  virtual Status OrderUpdate(void* stream) = 0;
  // Staging mode, after a restore into the staging buffer: copies it back
  // into the tensors (synchronously). Nothing to do in direct mode.
  virtual Status CopyBackFromStaging() = 0;
  // Blocks until the tensors' device has no work of this process pending (a
  // stream may still wait on events a new setup retires).
  virtual Status Synchronize() = 0;
};

// Validates the table's GPU tensors (devices[i] >= 0 with bytes > 0) for
// `mode` and plans their placement. No CUDA call is made to the daemon yet.
Result<std::unique_ptr<GpuSession>> NewGpuSession(const std::vector<HostTensor>& tensors,
                                                  const std::vector<int>& devices,
                                                  GpuSnapshot mode);

}  // namespace pccheck::client
