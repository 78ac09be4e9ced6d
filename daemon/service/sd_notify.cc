#include "service/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/fd.h"

namespace pccheck {
namespace {

// Whole decimal numbers only: "60000000" yes, "", "6e7", "-1", "12abc" no.
bool ParseDecimal(const char* text, uint64_t* out) {
  if (text == nullptr || *text == '\0') return false;
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, *out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

uint64_t WatchdogUsecFor(const char* watchdog_usec, const char* watchdog_pid, long pid) {
  uint64_t usec = 0;
  if (!ParseDecimal(watchdog_usec, &usec)) return 0;
  if (watchdog_pid != nullptr && *watchdog_pid != '\0') {
    uint64_t for_pid = 0;
    if (!ParseDecimal(watchdog_pid, &for_pid) || for_pid != static_cast<uint64_t>(pid)) return 0;
  }
  return usec;
}

ServiceNotifier ServiceNotifier::FromEnvironment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return ServiceNotifier(
      socket ? socket : "",
      WatchdogUsecFor(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid()));
}

ServiceNotifier::ServiceNotifier(std::string socket, uint64_t watchdog_usec)
    : socket_(std::move(socket)), watchdog_usec_(watchdog_usec) {}

Status ServiceNotifier::Notify(std::string_view state) const {
  if (!enabled()) return Status::Ok();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // A path must be absolute and leaves room for its NUL; '@' starts an
  // abstract name, whose length the address length gives (no NUL).
  const bool path = socket_[0] == '/';
  if ((!path && socket_[0] != '@') || socket_.size() + (path ? 1 : 0) > sizeof(addr.sun_path)) {
    return Status::InvalidArgument("NOTIFY_SOCKET='" + socket_ +
                                   "' is neither an absolute path nor an abstract name ('@...') "
                                   "that fits a Unix socket address");
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') addr.sun_path[0] = '\0';
  const auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size() + (path ? 1 : 0));

  Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket for NOTIFY_SOCKET " + socket_);
  const ssize_t sent = RetryOnEintr([&] {
    return ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), len);
  });
  if (sent < 0) return Status::FromErrno(errno, "sending to NOTIFY_SOCKET " + socket_);
  if (static_cast<size_t>(sent) != state.size()) {
    return Status::IoError("sending to NOTIFY_SOCKET " + socket_ + ": short datagram");
  }
  return Status::Ok();
}

}  // namespace pccheck
