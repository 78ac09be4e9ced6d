// Waiting on file descriptors with a deadline, for the support library's
// process helpers (not a public header of it).
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

namespace pccheck::testing::fd_wait {

using SteadyClock = std::chrono::steady_clock;

inline int MsLeft(SteadyClock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

inline SteadyClock::time_point After(int ms) {
  return SteadyClock::now() + std::chrono::milliseconds(ms);
}

// Reads what is there on fd into buf; false at EOF or error.
inline bool ReadSome(int fd, std::string* buf) {
  char tmp[8192];
  for (;;) {
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n > 0) {
      buf->append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Waits for fd to be readable; false when the deadline passed first.
inline bool Readable(int fd, SteadyClock::time_point deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, MsLeft(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace pccheck::testing::fd_wait
