// A Clock that moves only when the test says so.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/clock.h"

namespace pccheck::testing {

class ManualClock final : public Clock {
 public:
  uint64_t NowMicros() const override { return now_us_.load(); }
  int64_t WallSeconds() const override {
    return 1'700'000'000 + static_cast<int64_t>(now_us_.load() / 1'000'000);
  }
  void Advance(uint64_t us) { now_us_ += us; }

 private:
  std::atomic<uint64_t> now_us_{1'000'000};
};

}  // namespace pccheck::testing
