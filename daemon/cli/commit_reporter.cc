#include "cli/commit_reporter.h"

#include <chrono>
#include <cstdio>

namespace pccheck::cli {

namespace {
double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

CommitReporter::CommitReporter(bool progress)
    : progress_(progress), start_(NowSeconds()), thread_([this] { Loop(); }) {}

CommitReporter::~CommitReporter() { Finish(); }

double CommitReporter::Elapsed() const { return NowSeconds() - start_; }

void CommitReporter::Done(uint64_t step, const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!seen_.insert(step).second) return;
  if (status.ok()) {
    ++counts_.committed;
    counts_.last_commit_seconds = Elapsed();
  } else if (status.code() == Code::kAborted) {
    ++counts_.superseded;
  } else {
    ++counts_.failed;
  }
  queue_.push_back({step, status});
  cv_.notify_one();
}

void CommitReporter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

CommitReporter::Counts CommitReporter::counts() {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void CommitReporter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  double next_progress = Elapsed() + 2;
  for (;;) {
    cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_ || !queue_.empty(); });
    while (!queue_.empty()) {
      Event e = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      if (e.status.ok()) {
        std::printf("committed step=%llu\n", static_cast<unsigned long long>(e.step));
        std::fflush(stdout);
      } else {
        std::fprintf(stderr, "failed step=%llu: %s\n", static_cast<unsigned long long>(e.step),
                     e.status.ToString().c_str());
      }
      lock.lock();
    }
    if (stop_) return;
    if (progress_ && Elapsed() >= next_progress) {
      std::fprintf(stderr, "bench: %llu committed after %.1f s\n",
                   static_cast<unsigned long long>(counts_.committed), Elapsed());
      next_progress = Elapsed() + 2;
    }
  }
}

}  // namespace pccheck::cli
