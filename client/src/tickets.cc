#include "tickets.h"

#include <algorithm>

#include "errors.h"

namespace pccheck::client {

namespace {
bool Finished(const Ticket& t) {
  return t.state == SaveState::kCommitted || t.state == SaveState::kCoalesced ||
         t.state == SaveState::kFailed;
}
}  // namespace

void TicketBook::Add(uint64_t seq, uint64_t step, std::optional<uint32_t> blob_slot) {
  tickets_[seq] = Ticket{step, SaveState::kPending, Status::Ok(), blob_slot, false};
  Forget();
}

void TicketBook::Apply(const wire::CompletionMsg& msg) {
  auto it = tickets_.find(msg.seq);
  if (it == tickets_.end() || Finished(it->second)) return;
  Ticket& t = it->second;
  switch (msg.type) {
    case wire::RingType::kSnapshotDone:
      if (t.state == SaveState::kPending) t.state = SaveState::kSnapshotDone;
      newest_snapshot_ = std::max(newest_snapshot_.value_or(0), t.step);
      break;
    case wire::RingType::kCommitted:
      t.state = SaveState::kCommitted;
      newest_durable_ = std::max(newest_durable_.value_or(0), t.step);
      break;
    case wire::RingType::kCoalesced:
      t.state = SaveState::kCoalesced;
      break;
    case wire::RingType::kFailed:
      Finish(t, FromWire(msg.code, msg.message).Annotate("save of step " + std::to_string(t.step)));
      break;
    case wire::RingType::kSave:
    case wire::RingType::kCopiesQueued:  // GPU ordering: gpu_saves.h follows it
      break;
  }
}

// The caller reports the loss itself, so these are not snapshot failures
// for BeforeUpdate to report again.
void TicketBook::FailUnfinished(const std::function<Status(uint64_t step)>& why) {
  for (auto& [seq, t] : tickets_) {
    if (Finished(t)) continue;
    t.state = SaveState::kFailed;
    t.status = why(t.step);
  }
}

void TicketBook::Finish(Ticket& t, Status why) {
  if (t.state == SaveState::kPending && !snapshot_failure_) snapshot_failure_ = why;
  t.state = SaveState::kFailed;
  t.status = std::move(why);
}

// Keeps the map small over a long run: drops the oldest finished saves.
void TicketBook::Forget() {
  while (tickets_.size() > kKeepFinished && Finished(tickets_.begin()->second)) {
    tickets_.erase(tickets_.begin());
  }
}

Result<Ticket*> TicketBook::Find(uint64_t seq) {
  auto it = tickets_.find(seq);
  if (it == tickets_.end()) {
    return Status::NotFound("no save with ticket " + std::to_string(seq) +
                            " (unknown, or older than the newest " + std::to_string(kKeepFinished) +
                            " saves)");
  }
  return &it->second;
}

bool TicketBook::AnySnapshotPending() const {
  for (const auto& [seq, t] : tickets_) {
    if (t.state == SaveState::kPending) return true;
  }
  return false;
}

bool TicketBook::BlobSlotBusy(uint32_t slot) const {
  for (const auto& [seq, t] : tickets_) {
    if (t.state == SaveState::kPending && t.blob_slot == slot) return true;
  }
  return false;
}

std::optional<uint64_t> TicketBook::NewestRequested() const {
  std::optional<uint64_t> newest;
  for (const auto& [seq, t] : tickets_) {
    if (t.state != SaveState::kFailed) newest = std::max(newest.value_or(0), t.step);
  }
  return newest;
}

bool TicketBook::AnyUnfinished() const {
  for (const auto& [seq, t] : tickets_) {
    if (!Finished(t)) return true;
  }
  return false;
}

Status TicketBook::TakeSnapshotFailure() {
  Status s = snapshot_failure_.value_or(Status::Ok());
  snapshot_failure_.reset();
  return s;
}

Status TicketBook::TakeUnreportedFailure() {
  std::optional<uint64_t> newest_committed;
  for (const auto& [seq, t] : tickets_) {
    if (t.state == SaveState::kCommitted) {
      newest_committed = std::max(newest_committed.value_or(0), t.step);
    }
  }
  Status first;
  for (auto& [seq, t] : tickets_) {
    if (!Finished(t) || t.reported) continue;
    t.reported = true;
    // Newest wins: a save abandoned because a newer one committed lost nothing.
    const bool superseded =
        t.status.code() == Code::kAborted && newest_committed && t.step < *newest_committed;
    if (first.ok() && !t.status.ok() && !superseded) first = t.status;
  }
  return first;
}

}  // namespace pccheck::client
