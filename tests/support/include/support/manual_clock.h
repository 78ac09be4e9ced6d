// A Clock that moves only when the test says so.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/clock.h"

namespace pccheck::testing {

class ManualClock final : public Clock {
 public:
  // NowMicros() starts at now_us; WallSeconds() is wall_epoch_s plus the
  // whole seconds of NowMicros().
  explicit ManualClock(uint64_t now_us = 1'000'000, int64_t wall_epoch_s = 1'700'000'000)
      : now_us_(now_us), wall_epoch_s_(wall_epoch_s) {}

  uint64_t NowMicros() const override { return now_us_.load(); }
  int64_t WallSeconds() const override {
    return wall_epoch_s_ + static_cast<int64_t>(now_us_.load() / 1'000'000);
  }
  void Advance(uint64_t us) { now_us_ += us; }

 private:
  std::atomic<uint64_t> now_us_;
  const int64_t wall_epoch_s_;
};

}  // namespace pccheck::testing
