// ServiceWatchdog: keeps systemd told how pccheckd is doing. Every period it
// sends a STATUS= line ("serving 2 sessions, 1 checkpoint in flight; 40
// committed, 0 failed") and, when WatchdogSec= is set, WATCHDOG=1, but only
// while the daemon is alive in the sense of util/liveness.h.
//
// Why not ping from a plain timer thread: a timer keeps ticking when every
// writer is stuck on a dead disk or the engine is deadlocked, so systemd
// would never learn of it. Here each tick first
//   1. asks for the stalled workers: pipeline threads or the accept loop
//      busy in one step for longer than the stall limit;
//   2. builds the status line from the engine's and the server's own
//      queries, which take their locks: if one of those is held for good,
//      the tick blocks right there and no ping follows;
// and pings only when both came back with nothing stalled. When pings stop,
// systemd kills the daemon (WatchdogSignal, SIGABRT by default) and
// Restart= starts it again; recovery at start-up cleans what was in flight.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "service/sd_notify.h"

namespace pccheck {

struct WatchdogProbe {
  // Workers stalled for longer than the limit, as Liveness::Stalled words them.
  std::function<std::vector<std::string>()> stalled;
  // One line for `systemctl status`; may block (see above).
  std::function<std::string()> status;
};

// What one tick does, apart from the thread, so tests can drive it.
class WatchdogTicker {
 public:
  // notifier must outlive the ticker. WATCHDOG=1 is sent only when the
  // notifier has a watchdog interval.
  WatchdogTicker(const ServiceNotifier* notifier, WatchdogProbe probe);

  // Probes and sends one datagram: "STATUS=<line>\nWATCHDOG=1" when nothing
  // is stalled, else "STATUS=stalled: <who>" and no ping (logged when the
  // stall starts and when it ends). Returns whether it pinged.
  bool Tick();

 private:
  const ServiceNotifier* notifier_;
  WatchdogProbe probe_;
  bool stalled_ = false;
};

class ServiceWatchdog {
 public:
  // Starts a thread that calls ticker.Tick() every period_us (> 0) until
  // destroyed. The ticker's probe must stay valid until then.
  ServiceWatchdog(WatchdogTicker ticker, uint64_t period_us);
  ~ServiceWatchdog();  // stops and joins the thread
  ServiceWatchdog(const ServiceWatchdog&) = delete;
  ServiceWatchdog& operator=(const ServiceWatchdog&) = delete;

  // How often to tick for a watchdog interval (0: none): half of it, as
  // sd_watchdog_enabled(3) advises, else every 10 s for STATUS= alone.
  static uint64_t PeriodFor(uint64_t watchdog_usec);

 private:
  void Loop();

  WatchdogTicker ticker_;
  const uint64_t period_us_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pccheck
