// The state of every save by ticket (its request sequence number), fed by the
// completion ring (protocol step 6). A save goes kPending -> kSnapshotDone ->
// kCommitted or kCoalesced (a newer snapshot superseded it before its
// writing began; not an error), or ends kFailed from either of the first two. Completions that
// name no known save, or arrive for a save already finished, are ignored: the
// daemon is not trusted to be right.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "pccheck/client.h"
#include "proto/wire.h"

namespace pccheck::client {

struct Ticket {
  uint64_t step = 0;
  SaveState state = SaveState::kPending;
  Status status;                      // kFailed: why
  std::optional<uint32_t> blob_slot;  // the blob slot it reads until its snapshot
  bool reported = false;              // Wait() or WaitAll() returned its outcome
};

class TicketBook {
 public:
  void Add(uint64_t seq, uint64_t step, std::optional<uint32_t> blob_slot);
  void Apply(const wire::CompletionMsg& msg);
  // Fails every unfinished save with why(step) (the daemon went away); not
  // counted by TakeSnapshotFailure.
  void FailUnfinished(const std::function<Status(uint64_t step)>& why);

  // NotFound for a ticket never issued or forgotten (only the newest
  // kKeepFinished finished saves are remembered).
  Result<Ticket*> Find(uint64_t seq);
  // Some save still needs its sources (no snapshot yet): staging, blob slot.
  bool AnySnapshotPending() const;
  bool BlobSlotBusy(uint32_t slot) const;
  bool AnyUnfinished() const;
  // The newest step whose snapshot completed (in the daemon's memory, or
  // later durable) and the newest committed, as this client saw them.
  std::optional<uint64_t> newest_snapshot() const { return newest_snapshot_; }
  std::optional<uint64_t> newest_durable() const { return newest_durable_; }
  void NoteDurable(uint64_t step) { newest_durable_ = std::max(newest_durable_.value_or(0), step); }
  // The newest step requested and not failed.
  std::optional<uint64_t> NewestRequested() const;

  // The first save that failed before its snapshot since the last call (each
  // failure is reported once), or ok.
  Status TakeSnapshotFailure();
  // The first failure among finished saves not reported yet (or ok), and marks
  // them all reported. A save aborted while a newer save of this client
  // committed is not a failure: newest wins, and the newer one replaces it.
  Status TakeUnreportedFailure();

  static constexpr size_t kKeepFinished = 4096;

 private:
  void Finish(Ticket& t, Status why);
  void Forget();

  std::map<uint64_t, Ticket> tickets_;
  std::optional<Status> snapshot_failure_;
  std::optional<uint64_t> newest_snapshot_;
  std::optional<uint64_t> newest_durable_;
};

}  // namespace pccheck::client
