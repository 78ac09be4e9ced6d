// GpuSaves: the in-flight slot each GPU save uses and how far the daemon got
// with its copies, fed by the completion ring. Pure bookkeeping, no CUDA, so
// its rules are tested on any machine.
//
// A GPU save in slot s is ordered by two interprocess events: ready[s] (the
// client records it on the trainer's stream) and done[d][s] (the daemon
// records it after its copies on device d). A stream that waits on an event
// waits on its latest record, hence (DESIGN.md, "Events are recorded, then
// waited on"):
//   * The trainer's stream may wait on a save's done events only after
//     kCopiesQueued said the daemon recorded them for this save. Once the
//     copies are finished (kSnapshotDone, kCommitted) or the save failed
//     (kFailed: the daemon has no copy of it running) nothing needs waiting.
//   * A slot is in use from Start() until its save's copies are finished or
//     it failed: by then the daemon has waited on ready[s] and recorded
//     done[d][s] for it, so both may be recorded again for the next save.
//
// kSnapshotDone may arrive before kCopiesQueued (the daemon's writer threads
// race its copy thread): every rule holds in either order.
//
// Thread-safety: one thread at a time (the Client's).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "proto/wire.h"

namespace pccheck::client {

class GpuSaves {
 public:
  struct Save {
    uint64_t seq = 0;
    uint32_t slot = 0;
    bool copies_queued = false;  // kCopiesQueued: its done events are recorded
    bool stream_waits = false;   // the trainer's stream already waits on them
    // The events it was started with (opaque here): a later setup may replace
    // the current ones while this save still needs its own.
    std::shared_ptr<const void> events;
  };

  explicit GpuSaves(uint32_t slots = 0) : slots_(slots) {}

  uint32_t slots() const { return slots_; }
  // The lowest slot no save uses, if any.
  std::optional<uint32_t> FreeSlot() const;
  // A save was pushed in `slot`. REQUIRES: the slot is free.
  void Start(uint64_t seq, uint32_t slot, std::shared_ptr<const void> events);
  // Applies one completion; ignores those of unknown saves.
  void Apply(const wire::CompletionMsg& msg);
  // The session ended: its daemon runs no copy of ours any more.
  void Clear() { saves_.clear(); }

  // True when no save is still waiting for the daemon to queue its copies:
  // a stream can then be ordered after all of them without a CPU wait.
  bool AllQueued() const;
  // The saves whose done events a stream must still wait on (queued, not
  // finished, not waited on yet), oldest first. The caller marks each one's
  // stream_waits once its stream waits.
  std::vector<Save*> StreamWaitsNeeded();
  // The newest save still in flight, or null.
  const Save* Newest() const { return saves_.empty() ? nullptr : &saves_.back(); }
  bool empty() const { return saves_.empty(); }

 private:
  uint32_t slots_;
  std::vector<Save> saves_;  // in flight as far as the events go, by seq
};

}  // namespace pccheck::client
