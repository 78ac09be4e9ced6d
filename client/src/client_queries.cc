// Client: what the daemon holds and how it is doing (protocol step 8).
#include <unistd.h>

#include <cstdlib>

#include "client_impl.h"
#include "errors.h"
#include "store/default_paths.h"

namespace pccheck {

// $PCCHECK_SOCKET, else pccheckd's own default (store/default_paths.h).
std::string DefaultSocketPath() {
  if (const char* env = std::getenv("PCCHECK_SOCKET"); env != nullptr && *env != '\0') return env;
  return DefaultDaemonSocket();
}

std::string DefaultStoreRootPath() { return DefaultStoreRoot(); }

Result<std::vector<CheckpointEntry>> Client::List() {
  Impl& d = *impl_;
  PCC_RETURN_IF_ERROR(d.Connected());
  auto frame = d.session->Call(wire::MsgType::kList, "", wire::MsgType::kListed);
  if (!frame.ok()) return d.Checked(frame.status());
  auto reply = wire::DecodeListReply(frame->payload);
  if (!reply.ok()) return d.Checked(d.session->Fail(reply.status().Annotate("kListed")));
  std::vector<CheckpointEntry> entries;
  entries.reserve(reply->entries.size());
  for (const auto& e : reply->entries) entries.push_back({e.step, e.bytes, e.wall_time, e.latest});
  return entries;
}

Result<std::optional<uint64_t>> Client::LatestStep() {
  PCC_ASSIGN_OR_RETURN(std::vector<CheckpointEntry> entries, List());
  for (const auto& e : entries) {
    if (e.latest) return std::optional<uint64_t>(e.step);
  }
  return std::optional<uint64_t>();
}

// Asked on a connection of its own (as `pccheck status` does): the answer
// does not depend on this session, and a daemon that serves kStatus only
// before a Hello cannot drop the session over it.
Result<std::string> Client::StatusJson() {
  Impl& d = *impl_;
  if (d.session) (void)d.Pump();
  return QueryStatusJson(d.options.socket);
}

Result<std::string> QueryStatusJson(const std::string& socket) {
  const std::string path = socket.empty() ? DefaultSocketPath() : socket;
  PCC_ASSIGN_OR_RETURN(UnixSocket sock, UnixSocket::Connect(path));
  Status sent = sock.Send(wire::MsgType::kStatus, "");
  if (!sent.ok() && !sock.HasPendingInput()) return client::Unreachable(path, sent.message());
  auto frame = sock.Receive(client::kControlTimeoutMs);
  if (!frame.ok()) return client::Unreachable(path, frame.status().message());
  if (frame->type == wire::MsgType::kError) {
    auto error = wire::DecodeErrorReply(frame->payload);
    if (!error.ok()) return error.status().Annotate("error reply from " + path);
    return client::FromWire(error->code, error->message);
  }
  if (frame->type != wire::MsgType::kStatusReply) {
    return Status::Corruption("pccheckd at " + path + " answered kStatus with message type " +
                              std::to_string(static_cast<unsigned>(frame->type)));
  }
  auto reply = wire::DecodeStatusReply(frame->payload);
  if (!reply.ok()) return reply.status().Annotate("kStatusReply from " + path);
  return std::move(reply->json);
}

}  // namespace pccheck
