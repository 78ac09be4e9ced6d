#include "session.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace pccheck::client {

namespace {

std::string TypeName(wire::MsgType t) { return std::to_string(static_cast<unsigned>(t)); }

// The daemon hands us its eventfds; something else there (a pipe, a file)
// could block us in a read, so check what it is when /proc can tell.
bool LooksLikeEventFd(int fd) {
  char target[64] = {};
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
  if (n < 0) return true;  // no /proc: nothing to check against
  return std::string_view(target, static_cast<size_t>(n)) == "anon_inode:[eventfd]";
}

}  // namespace

Result<std::unique_ptr<Session>> Session::Open(const std::string& socket, const std::string& job,
                                               uint32_t rank) {
  // Connect's own error already names the socket and how to start pccheckd.
  PCC_ASSIGN_OR_RETURN(UnixSocket connected, UnixSocket::Connect(socket));
  std::unique_ptr<Session> session(new Session());
  session->socket_ = std::move(connected);
  Status s = session->Handshake(job, rank);
  if (session->broken()) return Unreachable(socket, session->broken_reason_.message());
  if (!s.ok()) return s;
  return session;
}

Status Session::Handshake(const std::string& job, uint32_t rank) {
  wire::Hello hello{wire::kProtocolVersion, job, rank, static_cast<uint32_t>(getpid())};
  PCC_ASSIGN_OR_RETURN(
      Frame frame, Call(wire::MsgType::kHello, wire::Encode(hello), wire::MsgType::kWelcome, 3));
  return MapSegment(frame);
}

Status Session::MapSegment(Frame& frame) {
  const std::string what = "Welcome from pccheckd at " + socket_path();
  auto welcome = wire::DecodeWelcome(frame.payload);
  if (!welcome.ok()) return welcome.status().Annotate(what);
  welcome_ = std::move(welcome).value();
  if (welcome_.version != wire::kProtocolVersion) {
    return Status::Unavailable("pccheckd at " + socket_path() + " speaks protocol version " +
                               std::to_string(welcome_.version) + ", this libpccheck speaks " +
                               std::to_string(wire::kProtocolVersion) +
                               " (install matching versions)");
  }
  auto layout =
      wire::SegmentLayout::For(welcome_.ring_slots, welcome_.blob_slots, welcome_.blob_slot_bytes);
  if (!layout.ok()) return Status::Corruption(what + ": " + layout.status().message());
  layout_ = *layout;
  if (welcome_.blob_slots == 0 || layout_.total_bytes > welcome_.segment_bytes) {
    return Status::Corruption(what + ": control segment of " +
                              std::to_string(welcome_.segment_bytes) + " bytes cannot hold " +
                              std::to_string(welcome_.blob_slots) + " blob slots and the rings (" +
                              std::to_string(layout_.total_bytes) + " bytes)");
  }
  if (!LooksLikeEventFd(frame.fds[1].get()) || !LooksLikeEventFd(frame.fds[2].get())) {
    return Status::Corruption(what + ": the wake-up fds are not eventfds");
  }
  auto segment = SharedMemory::Map(frame.fds[0].release(), welcome_.segment_bytes);
  if (!segment.ok()) return segment.status().Annotate(what);
  segment_ = std::move(segment).value();
  uint8_t* base = segment_->data();
  requests_ = wire::RingView(base + layout_.request_ring, layout_.ring_slots, false);
  completions_ = wire::RingView(base + layout_.completion_ring, layout_.ring_slots, false);
  request_event_ = EventFd::Adopt(std::move(frame.fds[1]));
  completion_event_ = EventFd::Adopt(std::move(frame.fds[2]));
  return Status::Ok();
}

Result<Frame> Session::Call(wire::MsgType type, const std::string& payload, wire::MsgType reply,
                            size_t reply_fds, const std::vector<int>& fds, int timeout_ms) {
  if (broken()) return broken_reason_;
  Status sent = socket_.Send(type, payload, fds);
  // Refused at once (at connect): the daemon's reason is read below.
  if (!sent.ok() && !socket_.HasPendingInput()) return Fail(sent);
  auto frame = socket_.Receive(timeout_ms);
  if (!frame.ok()) return Fail(frame.status());
  if (frame->type == wire::MsgType::kError) {
    auto error = wire::DecodeErrorReply(frame->payload);
    if (!error.ok()) return Fail(error.status().Annotate("error reply from " + socket_path()));
    return FromWire(error->code, error->message);
  }
  if (frame->type != reply || (reply_fds != kAnyFds && frame->fds.size() != reply_fds)) {
    return Fail(Status::Corruption(
        "pccheckd at " + socket_path() + " answered request " + TypeName(type) + " with type " +
        TypeName(frame->type) + " and " + std::to_string(frame->fds.size()) +
        " fds; expected type " + TypeName(reply) + " with " + std::to_string(reply_fds)));
  }
  return std::move(frame).value();
}

Status Session::Fail(Status why) {
  if (broken_reason_.ok()) broken_reason_ = why;
  return why;
}

void Session::Goodbye() {
  if (!broken()) (void)socket_.Send(wire::MsgType::kGoodbye, "");
}

Status Session::PopCompletions(std::vector<wire::CompletionMsg>* out) {
  if (broken()) return broken_reason_;
  uint8_t buf[wire::kRingMessageBytes];
  for (;;) {
    auto popped = completions_.TryPop(buf);
    if (!popped.ok()) return Fail(popped.status().Annotate("completion ring"));
    if (!*popped) return Status::Ok();
    auto msg = wire::DecodeCompletion(buf);
    if (!msg.ok()) return Fail(msg.status().Annotate("completion ring"));
    if (msg->type == wire::RingType::kSave) {
      return Fail(Status::Corruption("completion ring: a save request in it"));
    }
    out->push_back(std::move(msg).value());
  }
}

Result<bool> Session::PushSave(const wire::SaveMsg& msg) {
  if (broken()) return broken_reason_;
  uint8_t buf[wire::kRingMessageBytes];
  wire::EncodeSave(msg, buf);
  if (!requests_.TryPush(buf)) return false;
  Status woke = request_event_.Signal();
  if (!woke.ok()) return Fail(woke);
  return true;
}

uint8_t* Session::blob(uint32_t slot) const { return segment_->data() + layout_.BlobOffset(slot); }

Status Session::WaitForEvent(int timeout_ms) {
  if (broken()) return broken_reason_;
  if (timeout_ms != 0 && completions_.Pending() > 0) timeout_ms = 0;
  pollfd fds[2] = {{completion_event_.fd(), POLLIN, 0}, {socket_.fd(), POLLIN, 0}};
  int n = poll(fds, 2, timeout_ms);
  if (n < 0) return errno == EINTR ? Status::Ok() : Fail(Status::FromErrno(errno, "poll"));
  if (fds[0].revents & (POLLERR | POLLNVAL)) {
    return Fail(Status::Internal("completion eventfd from " + socket_path() + " failed"));
  }
  if (fds[0].revents & POLLIN) completion_event_.Drain();
  if (fds[1].revents != 0) return SocketEvent();
  return Status::Ok();
}

// The daemon speaks on the socket only when asked, so anything there while we
// wait is its end: EOF, a reset, or a last kError before it drops us.
Status Session::SocketEvent() {
  char byte;
  ssize_t n = recv(socket_.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return Fail(Status::Unavailable("pccheckd closed the connection"));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Status::Ok();
    return Fail(Status::FromErrno(errno, "recv from " + socket_path()));
  }
  auto frame = socket_.Receive(1000);
  if (!frame.ok()) return Fail(frame.status());
  if (frame->type == wire::MsgType::kError) {
    auto error = wire::DecodeErrorReply(frame->payload);
    if (error.ok())
      return Fail(FromWire(error->code, "pccheckd ended the session: " + error->message));
  }
  return Fail(Status::Corruption("unrequested message type " + TypeName(frame->type)));
}

}  // namespace pccheck::client
