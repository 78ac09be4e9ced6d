#include "support/wait_until.h"

#include <algorithm>
#include <thread>

namespace pccheck::testing {

Status WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                 const std::string& what) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (done()) return Status::Ok();
    const auto now = Clock::now();
    if (now >= deadline) {
      return Status::Unavailable("gave up after " + std::to_string(timeout.count()) +
                                 " ms waiting until " + what);
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace pccheck::testing
