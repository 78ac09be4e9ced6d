#include "client_impl.h"

#include "errors.h"

namespace pccheck {

using client::Session;

Client::Impl::~Impl() {
  if (session) session->Goodbye();
  session.reset();  // before the arenas: the daemon lets go of them first
}

Status Client::Impl::Connected() {
  if (!session) return Reconnect();
  PCC_RETURN_IF_ERROR(Pump());
  return Checked(session->CheckAlive());
}

Status Client::Impl::Pump() {
  if (!session) return client::Unreachable(options.socket, "the connection was lost");
  std::vector<wire::CompletionMsg> done;
  Status s = session->PopCompletions(&done);
  for (const auto& msg : done) {
    tickets.Apply(msg);
    if (gpu) gpu->saves().Apply(msg);
  }
  return Checked(s);
}

Status Client::Impl::Checked(const Status& s) {
  if (session && session->broken()) return MarkLost(session->broken_reason());
  return s;
}

Status Client::Impl::MarkLost(Status why) {
  const std::string socket = options.socket;
  if (session) {
    std::vector<wire::CompletionMsg> done;  // what it said before it went
    (void)session->PopCompletions(&done);
    for (const auto& msg : done) tickets.Apply(msg);
    session.reset();
  }
  if (gpu) gpu->saves().Clear();  // a dead daemon runs no copy of ours
  tickets.FailUnfinished([&socket](uint64_t step) {
    return Status::Unavailable("pccheckd at " + socket + " went away during save of step " +
                               std::to_string(step));
  });
  return client::Unreachable(socket, why.message());
}

// One attempt: a new session, every arena adopted under its new id, the GPU
// events (and staging buffer) set up again, the table registered again. Any
// failure leaves the client without a session.
Status Client::Impl::Reconnect() {
  auto opened = Session::Open(options.socket, options.job, options.rank);
  if (!opened.ok()) return opened.status();
  session = std::move(opened).value();
  Status s;
  for (auto& arena : arenas) {
    if (s.ok()) s = client::AdoptArena(*session, arena);
  }
  if (s.ok() && staging) s = client::AdoptArena(*session, *staging);
  if (s.ok() && gpu && table) {
    s = gpu->Connect(*session);
    auto specs = s.ok() ? gpu->Specs() : Result<std::map<size_t, wire::TensorSpec>>(s);
    if (specs.ok()) table->SetDeviceSpecs(std::move(specs).value());
    s = specs.status();
  }
  if (s.ok() && table) {
    auto version = SendTable(*table, staging_id());
    if (version.ok()) table_version = *version;
    s = version.status();
  }
  if (s.ok()) return s;
  if (session->broken()) return MarkLost(session->broken_reason());
  session.reset();
  return Status::Unavailable(
      "pccheckd at " + options.socket +
      " restarted and refused this client's shared memory or tensors: " + s.ToString());
}

Status Client::Impl::WaitUntil(const std::function<bool()>& done, int timeout_ms,
                               const std::string& what) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (session) PCC_RETURN_IF_ERROR(Pump());
    if (done()) return Status::Ok();
    if (!session) return client::Unreachable(options.socket, "the connection was lost");
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return client::Timeout(what, timeout_ms);
      wait_ms = static_cast<int>(left);
    }
    PCC_RETURN_IF_ERROR(Checked(session->WaitForEvent(wait_ms)));
  }
}

Result<uint32_t> Client::Impl::SendTable(const client::TensorTable& t, uint32_t staging_id) {
  wire::Register msg{t.Specs(arenas, staging_id)};
  PCC_ASSIGN_OR_RETURN(Frame frame, session->Call(wire::MsgType::kRegister, wire::Encode(msg),
                                                  wire::MsgType::kRegistered));
  auto reply = wire::DecodeRegistered(frame.payload);
  if (!reply.ok()) return session->Fail(reply.status().Annotate("kRegistered"));
  return reply->table_version;
}

}  // namespace pccheck
