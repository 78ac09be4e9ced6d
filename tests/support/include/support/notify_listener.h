// The service manager's side of the notify protocol, for tests: a datagram
// socket that receives what a ServiceNotifier (or pccheckd) sends, and a
// scoped environment variable to point the daemon at it.
#pragma once

#include <optional>
#include <string>

#include "support/test_util.h"

namespace pccheck::testing {

class NotifyListener {
 public:
  // abstract: bind a name in the abstract namespace ("@..."), else a path in
  // a temporary directory. Fails the test when it cannot bind.
  explicit NotifyListener(bool abstract = false);
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  // What $NOTIFY_SOCKET must say to reach it.
  const std::string& address() const { return address_; }
  // The next datagram, or nullopt when none came within timeout_ms (a
  // deadline against hanging, not a measurement).
  std::optional<std::string> Receive(int timeout_ms);
  // Datagrams until one contains `needle`; that one, or nullopt at the deadline.
  std::optional<std::string> ReceiveContaining(const std::string& needle, int timeout_ms);

 private:
  TempDir dir_;
  std::string address_;
  int fd_ = -1;
};

// Sets an environment variable (or unsets it: nullopt) and restores the old
// value when destroyed. Only while no other thread reads the environment.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace pccheck::testing
