// Waiting on one fd with a deadline, across signals (internal to proto/).
#pragma once

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace pccheck {

// A point in time fixed when built, in poll()'s terms: RemainingMs() is the
// milliseconds left (0 once passed), or -1 when built with a negative timeout.
class Deadline {
 public:
  explicit Deadline(int timeout_ms)
      : forever_(timeout_ms < 0),
        end_(Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0))) {}
  int RemainingMs() const {
    if (forever_) return -1;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(end_ - Clock::now()).count();
    return static_cast<int>(std::max<int64_t>(left, 0));
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool forever_;
  Clock::time_point end_;
};

// ok(true) when fd is ready for `events` (or has an error or hang-up to
// report), ok(false) when the deadline passed first. `what` names the wait in
// an error.
inline Result<bool> WaitReady(int fd, short events, const Deadline& deadline,
                              const std::string& what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, deadline.RemainingMs());
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return Status::FromErrno(errno, "poll " + what);
  }
}

}  // namespace pccheck
