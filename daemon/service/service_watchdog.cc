#include "service/service_watchdog.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

namespace pccheck {

WatchdogTicker::WatchdogTicker(const ServiceNotifier* notifier, WatchdogProbe probe)
    : notifier_(notifier), probe_(std::move(probe)) {}

bool WatchdogTicker::Tick() {
  std::vector<std::string> stalled = probe_.stalled();
  // Asked even when stalled: a lock held for good must also block this call.
  std::string status = probe_.status();
  std::string message;
  if (stalled.empty()) {
    if (stalled_) spdlog::info("no longer stalled: {}", status);
    stalled_ = false;
    message = "STATUS=" + status;
    if (notifier_->watchdog_usec() > 0) message += "\nWATCHDOG=1";
  } else {
    std::string who;
    for (const std::string& s : stalled) who += (who.empty() ? "" : "; ") + s;
    if (!stalled_) {
      spdlog::error(
          "stalled, so the service watchdog is no longer pinged (systemd will restart "
          "pccheckd if this lasts): {}",
          who);
    }
    stalled_ = true;
    message = "STATUS=stalled: " + who;
  }
  Status sent = notifier_->Notify(message);
  if (!sent.ok()) spdlog::warn("telling systemd: {}", sent.ToString());
  return stalled.empty() && notifier_->watchdog_usec() > 0 && sent.ok();
}

uint64_t ServiceWatchdog::PeriodFor(uint64_t watchdog_usec) {
  return watchdog_usec > 0 ? (watchdog_usec + 1) / 2 : 10'000'000;
}

ServiceWatchdog::ServiceWatchdog(WatchdogTicker ticker, uint64_t period_us)
    : ticker_(std::move(ticker)), period_us_(period_us), thread_([this] { Loop(); }) {}

ServiceWatchdog::~ServiceWatchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ServiceWatchdog::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    ticker_.Tick();
    lock.lock();
    cv_.wait_for(lock, std::chrono::microseconds(period_us_), [&] { return stop_; });
  }
}

}  // namespace pccheck
