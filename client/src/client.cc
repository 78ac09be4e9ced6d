// Client: the session's life and the save path (protocol steps 1, 5, 6, 9).
#include <cstring>

#include "client_impl.h"
#include "errors.h"

namespace pccheck {

using client::kNoTimeout;

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (impl->options.socket.empty()) impl->options.socket = DefaultSocketPath();
  PCC_ASSIGN_OR_RETURN(impl->session,
                       client::Session::Open(impl->options.socket, options.job, options.rank));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options; }
bool Client::connected() const { return impl_->session != nullptr; }

Result<uint64_t> Client::Save(uint64_t step, std::string_view user_blob) {
  Impl& d = *impl_;
  if (d.gpu) return SaveOnStream(step, nullptr, user_blob);
  PCC_RETURN_IF_ERROR(d.Connected());
  return d.SubmitSave(step, user_blob, 0);
}

Result<uint64_t> Client::Impl::SubmitSave(uint64_t step, std::string_view user_blob,
                                          uint32_t event_slot) {
  Impl& d = *this;
  if (!d.table) return Status::InvalidArgument("Save: no tensors registered (call Register first)");
  const uint64_t slot_bytes = d.session->welcome().blob_slot_bytes;
  if (user_blob.size() > slot_bytes) {
    return Status::InvalidArgument("Save: user blob of " + std::to_string(user_blob.size()) +
                                   " bytes is larger than pccheckd's blob slot of " +
                                   std::to_string(slot_bytes) + " bytes");
  }
  const uint64_t seq = d.next_seq;
  const auto slot = static_cast<uint32_t>(seq % d.session->welcome().blob_slots);
  const bool staged = d.table->staging_bytes() > 0;
  // The daemon reads the staging area until the snapshot, and the blob slot
  // until it takes the request off the ring: neither may change before then.
  auto sources_free = [&] {
    return (!staged || !d.tickets.AnySnapshotPending()) &&
           (user_blob.empty() || !d.tickets.BlobSlotBusy(slot));
  };
  PCC_RETURN_IF_ERROR(d.WaitUntil(sources_free, kNoTimeout, "the previous save's snapshot"));

  if (staged) d.table->CopyToStaging(d.staging->memory->data());
  if (!user_blob.empty()) std::memcpy(d.session->blob(slot), user_blob.data(), user_blob.size());
  wire::SaveMsg msg{seq, step, d.table_version, slot, user_blob.size(), event_slot};
  auto pushed = d.session->PushSave(msg);
  if (!pushed.ok()) return d.Checked(pushed.status());
  if (!*pushed) {
    return Status::Busy("request ring full: pccheckd at " + d.options.socket +
                        " has not taken the earlier saves yet (save less often)");
  }
  d.tickets.Add(seq, step, user_blob.empty() ? std::nullopt : std::optional<uint32_t>(slot));
  ++d.next_seq;
  return seq;
}

Status Client::BeforeUpdate(int timeout_ms) {
  Impl& d = *impl_;
  Status s = d.WaitUntil([&] { return !d.tickets.AnySnapshotPending(); }, timeout_ms,
                         "the snapshots of the saves in flight");
  if (client::IsTimeout(s)) return s;  // a failure seen meanwhile is reported next time
  Status failed = d.tickets.TakeSnapshotFailure();
  return s.ok() ? failed : s;
}

Status Client::Wait(uint64_t ticket, int timeout_ms) {
  Impl& d = *impl_;
  PCC_ASSIGN_OR_RETURN(client::Ticket * t, d.tickets.Find(ticket));
  auto finished = [t] {
    return t->state == SaveState::kCommitted || t->state == SaveState::kCoalesced ||
           t->state == SaveState::kFailed;
  };
  PCC_RETURN_IF_ERROR(d.WaitUntil(finished, timeout_ms,
                                  "the save of step " + std::to_string(t->step) + " to commit"));
  t->reported = true;
  return t->status;
}

Result<SaveState> Client::Poll(uint64_t ticket) {
  Impl& d = *impl_;
  if (d.session) (void)d.Connected();  // a lost daemon fails the ticket: that is the answer
  PCC_ASSIGN_OR_RETURN(client::Ticket * t, d.tickets.Find(ticket));
  return t->state;
}

Status Client::WaitAll(int timeout_ms) {
  Impl& d = *impl_;
  PCC_RETURN_IF_ERROR(d.WaitUntil([&] { return !d.tickets.AnyUnfinished(); }, timeout_ms,
                                  "every save in flight to finish"));
  return d.tickets.TakeUnreportedFailure();
}

Status Client::WaitDurable(int timeout_ms) {
  Impl& d = *impl_;
  Status all = WaitAll(timeout_ms);
  if (client::IsTimeout(all)) return all;
  const auto newest = d.tickets.NewestRequested();
  if (!newest || d.tickets.newest_durable() >= newest) return Status::Ok();
  if (!all.ok()) return all;
  return Status::Aborted("the newest save, of step " + std::to_string(*newest) +
                         ", did not become durable");
}

std::optional<uint64_t> Client::NewestSnapshotStep() {
  Impl& d = *impl_;
  auto snap = d.tickets.newest_snapshot();
  auto durable = NewestDurableStep();
  if (!snap || (durable && *durable > *snap)) return durable;
  return snap;
}

std::optional<uint64_t> Client::NewestDurableStep() {
  Impl& d = *impl_;
  if (!d.tickets.newest_durable()) {
    auto latest = LatestStep();
    if (latest.ok() && latest->has_value()) d.tickets.NoteDurable(**latest);
  }
  return d.tickets.newest_durable();
}

}  // namespace pccheck
