#include "support/watchdog.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "catch.h"

namespace pccheck::testing {

Watchdog::Watchdog(int seconds) {
  thread_ = std::thread([this, seconds] {
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::seconds(seconds), [&] { return done_; })) return;
    fired_ = true;
    std::fprintf(stderr, "watchdog: the test ran past %d s; killing its processes\n", seconds);
    for (pid_t p : pids_) ::kill(p, SIGKILL);
    if (cv_.wait_for(lock, std::chrono::seconds(30), [&] { return done_; })) return;
    std::fprintf(stderr, "watchdog: the test is still stuck 30 s later; exiting\n");
    std::fflush(nullptr);
    std::_Exit(124);
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  thread_.join();
  // Not while a failed REQUIRE unwinds the test: that failure is the one to report.
  if (std::uncaught_exceptions() == 0) CHECK_FALSE(fired());
}

void Watchdog::Guard(pid_t pid) {
  std::lock_guard lock(mu_);
  pids_.push_back(pid);
}

bool Watchdog::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

}  // namespace pccheck::testing
