#include "support/notify_listener.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>

#include "catch.h"

namespace pccheck::testing {

NotifyListener::NotifyListener(bool abstract) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd_ >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t len = 0;
  if (abstract) {
    address_ = "@pccheck-test-notify-" + std::to_string(::getpid()) + "-" +
               std::to_string(std::random_device{}());
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    addr.sun_path[0] = '\0';
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  } else {
    address_ = dir_.path() + "/notify";
    REQUIRE(address_.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, address_.c_str(), address_.size() + 1);
    len = static_cast<socklen_t>(sizeof(addr));
  }
  const int rc = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len);
  INFO("binding " << address_ << ": " << std::strerror(errno));
  REQUIRE(rc == 0);
}

NotifyListener::~NotifyListener() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> NotifyListener::Receive(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  char buf[4096];
  ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
  if (got < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(got));
}

std::optional<std::string> NotifyListener::ReceiveContaining(const std::string& needle,
                                                             int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    auto d = Receive(static_cast<int>(left));
    if (!d) return std::nullopt;
    if (d->find(needle) != std::string::npos) return d;
  }
}

ScopedEnv::ScopedEnv(std::string name, const std::optional<std::string>& value)
    : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) old_ = old;
  if (value) {
    ::setenv(name_.c_str(), value->c_str(), 1);
  } else {
    ::unsetenv(name_.c_str());
  }
}

ScopedEnv::~ScopedEnv() {
  if (old_) {
    ::setenv(name_.c_str(), old_->c_str(), 1);
  } else {
    ::unsetenv(name_.c_str());
  }
}

}  // namespace pccheck::testing
