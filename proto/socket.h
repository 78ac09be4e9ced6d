// The Unix socket between pccheckd and its clients: framed messages (wire.h),
// file descriptors passed with SCM_RIGHTS, peer credentials, and eventfds for
// ring wake-ups. Every system call goes through here; errors name the socket
// path and the errno text.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/wire.h"
#include "util/status.h"

namespace pccheck {

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

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
  static Result<UnixSocket> Listen(const std::string& path, uint32_t mode);
  // Connects; Unavailable naming the path (and "is pccheckd running?") when
  // nobody listens.
  static Result<UnixSocket> Connect(const std::string& path);
  UnixSocket() = default;
  UnixSocket(UnixSocket&&) = default;
  UnixSocket& operator=(UnixSocket&&) = default;

  Result<UnixSocket> Accept();
  Result<PeerCred> Peer() const;

  // Sends one frame (header + payload + fds) completely.
  Status Send(wire::MsgType type, const std::string& payload, const std::vector<int>& fds = {});
  // Receives one frame. timeout_ms < 0 waits forever. Unavailable on EOF
  // ("peer closed"), IoError on timeout or error, Corruption on a bad header.
  Result<Frame> Receive(int timeout_ms = -1);

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
  // ok(true) when signalled, ok(false) on timeout.
  Result<bool> Wait(int timeout_ms);
  void Drain();  // reset without blocking
  int fd() const { return fd_.get(); }

 private:
  explicit EventFd(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace pccheck
