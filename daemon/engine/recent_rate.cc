#include "engine/recent_rate.h"

#include <algorithm>

namespace pccheck {

void RecentRate::Add(uint64_t now_us, uint64_t n) {
  std::lock_guard lock(mu_);
  newest_us_ = std::max(newest_us_, now_us);
  const uint64_t second = newest_us_ / 1'000'000;
  Bucket& b = buckets_[second % kWindowSeconds];
  if (b.second != second) b = Bucket{second, 0};
  b.bytes += n;
}

double RecentRate::BytesPerSecond(uint64_t now_us) const {
  std::lock_guard lock(mu_);
  const uint64_t second = now_us / 1'000'000;
  uint64_t bytes = 0;
  for (const Bucket& b : buckets_) {
    if (b.second != UINT64_MAX && b.second <= second && second - b.second < kWindowSeconds) {
      bytes += b.bytes;
    }
  }
  if (bytes == 0) return 0;
  // The buckets cover from the start of the oldest second in the window to now.
  const uint64_t window_start_us =
      std::max((second + 1 - std::min(second + 1, kWindowSeconds)) * 1'000'000, start_us_);
  const double window_s =
      std::max(1.0, static_cast<double>(now_us - std::min(now_us, window_start_us)) / 1e6);
  return static_cast<double>(bytes) / window_s;
}

}  // namespace pccheck
