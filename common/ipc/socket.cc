// UnixSocket: listen, connect, and framed send/receive with fd passing.
#include "ipc/socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "ipc/wait.h"

namespace pccheck {
namespace {

constexpr int kBacklog = 64;
constexpr size_t kMaxFds = 4;
// Room for more fds than a frame may carry, so that extras arrive (and are
// closed) rather than vanish with MSG_CTRUNC.
constexpr size_t kFdRoom = 16;
// The payload buffer grows as bytes arrive: a header alone cannot make us
// allocate kMaxFrameBytes.
constexpr size_t kReadStep = 1u << 20;

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("socket path '" + path + "' must be 1 to " +
                                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

Result<Fd> NewSocket(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket for " + path);
  return fd;
}

// 0 or the errno of connecting fd to addr. A connect interrupted by a signal
// keeps going in the kernel, so it is waited for rather than restarted.
int ConnectTo(int fd, const sockaddr_un& addr) {
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return 0;
  if (errno != EINTR) return errno;
  auto ready = WaitReady(fd, POLLOUT, Deadline(-1), "connect");
  if (!ready.ok()) return EIO;
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

// Moves the fds of every SCM_RIGHTS message into `fds`, closing those past kMaxFds.
void CollectFds(msghdr& msg, std::vector<Fd>* fds) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      Fd owned(fd);
      if (fds->size() < kMaxFds) fds->push_back(std::move(owned));
    }
  }
}

// Puts `fds` in an SCM_RIGHTS message on msg, using `control` (room for kMaxFds).
void AttachFds(msghdr& msg, char* control, const std::vector<int>& fds) {
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
}

// Reads one frame's bytes in order before a deadline, moving the fds that
// arrive with them into `fds`.
class FrameReader {
 public:
  FrameReader(int fd, const std::string& path, int timeout_ms, std::vector<Fd>* fds)
      : fd_(fd), path_(path), timeout_ms_(timeout_ms), deadline_(timeout_ms), fds_(fds) {}

  Status ReadExactly(char* buf, size_t n) {
    for (size_t got = 0; got < n;) {
      PCC_ASSIGN_OR_RETURN(bool ready, WaitReady(fd_, POLLIN, deadline_, "receive on " + path_));
      if (!ready) {
        return Status::IoError("timed out after " + std::to_string(timeout_ms_) +
                               " ms waiting for a frame on " + path_);
      }
      iovec iov{buf + got, n - got};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdRoom)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t r = RetryOnEintr([&] { return ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC); });
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;  // spurious wake-up
      if (r < 0 && errno != ECONNRESET) return Status::FromErrno(errno, "recvmsg on " + path_);
      if (r <= 0) {
        return Status::Unavailable("peer closed the connection on " + path_ +
                                   (total_ > 0 ? " in the middle of a frame" : ""));
      }
      CollectFds(msg, fds_);
      got += static_cast<size_t>(r);
      total_ += static_cast<size_t>(r);
    }
    return Status::Ok();
  }

 private:
  int fd_;
  const std::string& path_;
  int timeout_ms_;
  Deadline deadline_;
  std::vector<Fd>* fds_;
  size_t total_ = 0;  // bytes of this frame read so far
};

}  // namespace

Result<UnixSocket> UnixSocket::Listen(const std::string& path, uint32_t mode) {
  PCC_ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::InvalidArgument(path + " exists and is not a socket; refusing to replace it");
    }
    PCC_ASSIGN_OR_RETURN(Fd probe, NewSocket(path));
    int err = ConnectTo(probe.get(), addr);
    if (err == 0) return Status::Busy("another pccheckd is listening on " + path);
    if (err != ECONNREFUSED && err != ENOENT) {
      return Status::FromErrno(err, "probing the existing socket " + path);
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno(errno, "removing the stale socket " + path);
    }
  } else if (errno != ENOENT) {
    return Status::FromErrno(errno, "stat " + path);
  }
  PCC_ASSIGN_OR_RETURN(Fd fd, NewSocket(path));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == EADDRINUSE) return Status::Busy("another pccheckd is listening on " + path);
    return Status::FromErrno(errno, "bind " + path);
  }
  if (::chmod(path.c_str(), mode) != 0) return Status::FromErrno(errno, "chmod " + path);
  if (::listen(fd.get(), kBacklog) != 0) return Status::FromErrno(errno, "listen " + path);
  return UnixSocket(std::move(fd), path);
}

Result<UnixSocket> UnixSocket::Connect(const std::string& path) {
  PCC_ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  PCC_ASSIGN_OR_RETURN(Fd fd, NewSocket(path));
  if (int err = ConnectTo(fd.get(), addr); err != 0) {
    std::string what = "cannot connect to pccheckd at " + path + ": " + std::strerror(err);
    if (err == EACCES || err == EPERM) {
      return Status::PermissionDenied(what +
                                      " (the socket's owner, group or mode shut this user out)");
    }
    return Status::Unavailable(what + " (is pccheckd running? start it with `pccheckd --socket " +
                               path + "` or `systemctl start pccheckd`)");
  }
  return UnixSocket(std::move(fd), path);
}

Result<UnixSocket> UnixSocket::Accept() {
  int fd = RetryOnEintr([&] { return ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC); });
  if (fd < 0) return Status::FromErrno(errno, "accept on " + path_);
  return UnixSocket(Fd(fd), path_);
}

Result<PeerCred> UnixSocket::Peer() const {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return Status::FromErrno(errno, "SO_PEERCRED on " + path_);
  }
  return PeerCred{cred.pid, cred.uid, cred.gid};
}

bool UnixSocket::HasPendingInput() const {
  char byte;
  return ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

Status UnixSocket::Send(wire::MsgType type, const std::string& payload,
                        const std::vector<int>& fds) {
  if (payload.size() > wire::kMaxFrameBytes) {
    return Status::InvalidArgument("frame of " + std::to_string(payload.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(wire::kMaxFrameBytes));
  }
  if (fds.size() > kMaxFds) {
    return Status::InvalidArgument(std::to_string(fds.size()) + " fds in one frame (limit 4)");
  }
  const std::string header = wire::EncodeFrameHeader({static_cast<uint32_t>(payload.size()), type});
  const size_t total = header.size() + payload.size();
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  size_t sent = 0;
  while (sent < total) {
    // Rebuild the unsent part: what is left of the header, then of the payload.
    iovec iov[2];
    int n_iov = 0;
    if (sent < header.size()) {
      iov[n_iov++] = {const_cast<char*>(header.data()) + sent, header.size() - sent};
    }
    const size_t payload_sent = sent > header.size() ? sent - header.size() : 0;
    if (payload_sent < payload.size()) {
      iov[n_iov++] = {const_cast<char*>(payload.data()) + payload_sent,
                      payload.size() - payload_sent};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n_iov;
    if (sent == 0 && !fds.empty()) AttachFds(msg, control, fds);  // they ride the first byte
    ssize_t n = RetryOnEintr([&] { return ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL); });
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        PCC_RETURN_IF_ERROR(
            WaitReady(fd_.get(), POLLOUT, Deadline(-1), "send on " + path_).status());
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET) {
        return Status::Unavailable("sending on " + path_ + ": peer closed the connection");
      }
      return Status::FromErrno(errno, "sendmsg on " + path_);
    }
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<Frame> UnixSocket::Receive(int timeout_ms, uint32_t max_payload) {
  Frame frame;
  FrameReader reader(fd_.get(), path_, timeout_ms, &frame.fds);
  char header[wire::kFrameHeaderBytes];
  PCC_RETURN_IF_ERROR(reader.ReadExactly(header, sizeof(header)));
  PCC_ASSIGN_OR_RETURN(wire::FrameHeader h,
                       wire::DecodeFrameHeader(std::string_view(header, sizeof(header))));
  frame.type = h.type;
  if (h.length > max_payload) {
    return Status::InvalidArgument("a frame of " + std::to_string(h.length) + " bytes on " + path_ +
                                   " exceeds the " + std::to_string(max_payload) +
                                   "-byte limit for this message");
  }
  while (frame.payload.size() < h.length) {
    const size_t have = frame.payload.size();
    frame.payload.resize(std::min<size_t>(h.length, have + kReadStep));
    PCC_RETURN_IF_ERROR(
        reader.ReadExactly(frame.payload.data() + have, frame.payload.size() - have));
  }
  return frame;
}

}  // namespace pccheck
