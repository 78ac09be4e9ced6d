// The Unix socket between pccheckd and its clients: framed messages (wire.h),
// file descriptors passed with SCM_RIGHTS, peer credentials, and eventfds for
// ring wake-ups. Every system call goes through here; errors name the socket
// path and the errno text.
//
// Thread-safety: a UnixSocket may be sent on by one thread while another
// receives; two concurrent Sends (or Receives) on one socket interleave bytes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/fd.h"  // Fd
#include "base/status.h"
#include "proto/wire.h"

namespace pccheck {

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Frame {
  wire::MsgType type = wire::MsgType::kHello;
  std::string payload;
  std::vector<Fd> fds;  // at most 4 per frame
};

class UnixSocket {
 public:
  // Binds and listens at path (removing a stale socket file first; refusing
  // when another daemon is listening there) with the file mode given.
  // Busy "another pccheckd is listening on PATH" when one answers there;
  // InvalidArgument when PATH is too long or exists and is not a socket.
  // The socket file is briefly created with the umask's mode before the chmod:
  // callers authorize every peer with Peer() anyway.
  static Result<UnixSocket> Listen(const std::string& path, uint32_t mode);
  // Connects; Unavailable naming the path (and "is pccheckd running?") when
  // nobody listens; PermissionDenied when the socket's mode shuts us out.
  static Result<UnixSocket> Connect(const std::string& path);
  UnixSocket() = default;
  UnixSocket(UnixSocket&&) = default;
  UnixSocket& operator=(UnixSocket&&) = default;

  Result<UnixSocket> Accept();
  Result<PeerCred> Peer() const;

  // Sends one frame (header + payload + fds) completely; the fds stay owned
  // by the caller. InvalidArgument for a payload over kMaxFrameBytes or more
  // than 4 fds; Unavailable when the peer has gone (never SIGPIPE).
  Status Send(wire::MsgType type, const std::string& payload, const std::vector<int>& fds = {});
  // Receives one frame. timeout_ms < 0 waits forever. Unavailable on EOF
  // ("peer closed"), IoError on timeout or error, Corruption on a bad header.
  // Passed fds come back close-on-exec; any beyond 4 are closed, and all are
  // closed when the frame fails. A timeout before the frame's first byte
  // leaves the socket usable; after any other failure the stream is out of
  // step and the socket should be closed. A frame whose header announces
  // more than max_payload bytes fails (InvalidArgument naming both sizes)
  // before any of its payload is read.
  Result<Frame> Receive(int timeout_ms = -1, uint32_t max_payload = wire::kMaxFrameBytes);

  // After a Send that failed because the peer had closed: whether the peer
  // sent something before closing (a refusal frame, read it with Receive).
  // A daemon refuses a peer as soon as it connects, so a client's first Send
  // may race with that close.
  bool HasPendingInput() const;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  UnixSocket(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Fd fd_;
  std::string path_;
};

// Wake-ups for the rings: Signal adds 1; Wait blocks until the count is
// non-zero (or timeout) and resets it.
class EventFd {
 public:
  static Result<EventFd> Create();
  static EventFd Adopt(Fd fd) { return EventFd(std::move(fd)); }
  EventFd() = default;
  Status Signal();
  // ok(true) when signalled, ok(false) on timeout; timeout_ms < 0 waits forever.
  Result<bool> Wait(int timeout_ms);
  void Drain();  // reset without blocking
  int fd() const { return fd_.get(); }

 private:
  explicit EventFd(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace pccheck
