// An owned file descriptor, and the one helper every system call in proto/
// goes through to survive signals.
#pragma once

#include <cerrno>

namespace pccheck {

// Owns a file descriptor and closes it on destruction (or move-assignment).
// Move-only; release() gives up ownership.
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

// Calls `call` again while it fails with EINTR; returns its last result, with
// errno as that call left it. Never wrap close(): on Linux the fd is gone
// even when close reports EINTR, and a retry could close someone else's.
template <typename Call>
auto RetryOnEintr(Call call) {
  auto r = call();
  while (r == -1 && errno == EINTR) r = call();
  return r;
}

}  // namespace pccheck
