// Clock: where time matters (bandwidth figures, manifest wall time, timeouts).
#pragma once

#include <chrono>
#include <cstdint>

namespace pccheck {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic microseconds, for durations.
  virtual uint64_t NowMicros() const = 0;
  // Wall-clock seconds since the Unix epoch, for records people read.
  virtual int64_t WallSeconds() const = 0;
};

class SystemClock final : public Clock {
 public:
  uint64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t WallSeconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A process-wide SystemClock.
inline const Clock& DefaultClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace pccheck
