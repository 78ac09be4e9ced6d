// EventFd: ring wake-ups through a non-blocking eventfd.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "ipc/socket.h"
#include "ipc/wait.h"

namespace pccheck {

Result<EventFd> EventFd::Create() {
  Fd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd.valid()) return Status::FromErrno(errno, "eventfd");
  return EventFd(std::move(fd));
}

Status EventFd::Signal() {
  const uint64_t one = 1;
  ssize_t n = RetryOnEintr([&] { return ::write(fd_.get(), &one, sizeof(one)); });
  // EAGAIN: the counter is about to overflow, so the waiter is woken anyway.
  if (n < 0 && errno != EAGAIN) return Status::FromErrno(errno, "signalling eventfd");
  return Status::Ok();
}

Result<bool> EventFd::Wait(int timeout_ms) {
  const Deadline deadline(timeout_ms);
  for (;;) {
    PCC_ASSIGN_OR_RETURN(bool ready, WaitReady(fd_.get(), POLLIN, deadline, "eventfd"));
    if (!ready) return false;
    uint64_t count = 0;
    ssize_t n = RetryOnEintr([&] { return ::read(fd_.get(), &count, sizeof(count)); });
    if (n == sizeof(count)) return true;
    // EAGAIN: another reader took the count between poll and read; wait on.
    if (n < 0 && errno != EAGAIN) return Status::FromErrno(errno, "reading eventfd");
  }
}

void EventFd::Drain() {
  uint64_t count = 0;
  // EAGAIN (nothing was pending) is as good as a read.
  (void)RetryOnEintr([&] { return ::read(fd_.get(), &count, sizeof(count)); });
}

}  // namespace pccheck
