// StageTimer: the time a pipeline stage spends, by the engine's injected
// Clock, added to an EngineProfile counter. Internal to the engine.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/clock.h"

namespace pccheck {

// Adds the time from construction to destruction, by the engine's clock, to
// a counter.
class StageTimer {
 public:
  StageTimer(const Clock* clock, std::atomic<uint64_t>* counter)
      : clock_(clock), counter_(counter), start_(clock->NowMicros()) {}
  ~StageTimer() { *counter_ += clock_->NowMicros() - start_; }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  const Clock* clock_;
  std::atomic<uint64_t>* counter_;
  uint64_t start_;
};

}  // namespace pccheck
