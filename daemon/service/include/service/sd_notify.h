// The service manager's notify protocol (sd_notify(3)), spoken directly.
//
// systemd starts a Type=notify service with $NOTIFY_SOCKET naming an AF_UNIX
// datagram socket; the service reports its state by sending one datagram of
// newline-separated assignments to it: READY=1 (start-up finished), STATUS=
// (one line shown by `systemctl status`), STOPPING=1, WATCHDOG=1 (alive). A
// name starting with '@' is in the abstract namespace (the '@' stands for a
// leading NUL byte). With WatchdogSec= set, $WATCHDOG_USEC is the interval
// within which WATCHDOG=1 must arrive, and $WATCHDOG_PID, when set, the pid
// it is meant for.
//
// We speak it ourselves instead of linking libsystemd: it is one sendto() of
// a string, and machines without libsystemd's headers (GPU hosts, containers)
// build the same daemon. docs/design-notes.md says more.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace pccheck {

class ServiceNotifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. Without
  // $NOTIFY_SOCKET (not started by systemd, or not Type=notify) the notifier
  // is disabled and every Notify is a no-op that succeeds.
  static ServiceNotifier FromEnvironment();
  // A notifier for `socket` (empty: disabled) with a watchdog interval (0: none).
  ServiceNotifier(std::string socket, uint64_t watchdog_usec);

  bool enabled() const { return !socket_.empty(); }
  const std::string& socket() const { return socket_; }
  // The interval within which WATCHDOG=1 must arrive; 0 when the watchdog is
  // off or $WATCHDOG_PID names another process.
  uint64_t watchdog_usec() const { return watchdog_usec_; }

  // Sends `state` ("READY=1\nSTATUS=serving") as one datagram. Thread-safe.
  // Fails (naming the socket and the errno) when the socket is malformed or
  // the send fails; the caller logs it, nothing else depends on it.
  Status Notify(std::string_view state) const;

 private:
  std::string socket_;
  uint64_t watchdog_usec_ = 0;
};

// The watchdog interval that $WATCHDOG_USEC and $WATCHDOG_PID (values of the
// variables, null when unset) ask of process `pid`: 0 when none, when the
// value is malformed, or when watchdog_pid names another process.
uint64_t WatchdogUsecFor(const char* watchdog_usec, const char* watchdog_pid, long pid);

}  // namespace pccheck
