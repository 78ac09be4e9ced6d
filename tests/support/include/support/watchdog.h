// A deadline for a whole test that runs processes.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace pccheck::testing {

// Fails the test, instead of letting it hang, when it runs longer than
// `seconds`: SIGKILLs the processes registered with it (which makes any
// client call waiting on them return), so the test reaches its checks; the
// destructor then fails the test. As a last resort, when even that does not
// end the test, exits the whole binary with status 124.
class Watchdog {
 public:
  explicit Watchdog(int seconds);
  ~Watchdog();
  void Guard(pid_t pid);
  bool fired() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool fired_ = false;
  std::vector<pid_t> pids_;
  std::thread thread_;
};

}  // namespace pccheck::testing
