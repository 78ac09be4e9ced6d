// RecentRate: bytes per second over the last ten seconds, for `status`.
//
// Bytes are added into one-second buckets keyed by the monotonic second they
// arrive in; a rate sums the buckets of the current second and the nine
// before it. The window is those ten seconds, less any part before the meter
// started, and never under one second: a burst right after start reads as
// that burst per second, not as an absurd rate over a few microseconds.
// Times are passed in (Clock::NowMicros), so a test can drive it.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

namespace pccheck {

class RecentRate {
 public:
  static constexpr uint64_t kWindowSeconds = 10;

  explicit RecentRate(uint64_t start_us) : start_us_(start_us) {}

  // Counts n bytes at now_us (monotonic; earlier times than the newest seen
  // are counted in the newest second).
  void Add(uint64_t now_us, uint64_t n);
  // Bytes per second over the window ending at now_us; 0 when nothing was
  // added in it.
  double BytesPerSecond(uint64_t now_us) const;

 private:
  struct Bucket {
    uint64_t second = UINT64_MAX;  // which monotonic second it holds
    uint64_t bytes = 0;
  };

  const uint64_t start_us_;
  mutable std::mutex mu_;
  uint64_t newest_us_ = 0;
  std::array<Bucket, kWindowSeconds> buckets_{};
};

}  // namespace pccheck
