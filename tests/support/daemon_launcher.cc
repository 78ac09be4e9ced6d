#include "support/daemon_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "ipc/socket.h"
#include "proto/wire.h"
#include "support/wait_until.h"

namespace pccheck::testing {

Result<std::string> QueryStatus(const std::string& socket, int timeout_ms) {
  PCC_ASSIGN_OR_RETURN(UnixSocket sock, UnixSocket::Connect(socket));
  PCC_RETURN_IF_ERROR(sock.Send(wire::MsgType::kStatus, ""));
  PCC_ASSIGN_OR_RETURN(Frame frame, sock.Receive(timeout_ms));
  if (frame.type != wire::MsgType::kStatusReply) {
    return Status::Corruption("pccheckd at " + socket + " answered kStatus with message type " +
                              std::to_string(static_cast<unsigned>(frame.type)));
  }
  PCC_ASSIGN_OR_RETURN(auto reply, wire::DecodeStatusReply(frame.payload));
  return std::move(reply.json);
}

DaemonLauncher::DaemonLauncher(LaunchOptions options) : options_(std::move(options)) {
  if (options_.dir.empty()) {
    own_dir_ = std::make_unique<TempDir>();
    dir_ = own_dir_->path();
  } else {
    dir_ = options_.dir;
  }
  socket_ = options_.socket.empty() ? dir_ + "/pccheckd.sock" : options_.socket;
  root_ = dir_ + "/store";
  log_path_ = dir_ + "/pccheckd.log";
}

DaemonLauncher::~DaemonLauncher() {
  Kill();
  if (drain_.joinable()) drain_.join();
}

Status DaemonLauncher::Start() {
  if (pid_ > 0) return Status::InvalidArgument("pccheckd already started");
  if (drain_.joinable()) drain_.join();
  const std::string exe = BuildDir() + "/daemon/pccheckd";
  std::vector<std::string> args = {exe, "--root", root_, "--socket", socket_};
  const auto& flags = options_.flags;
  for (const auto& [flag, value] : options_.defaults) {
    if (std::find(flags.begin(), flags.end(), flag) == flags.end()) {
      args.push_back(flag);
      args.push_back(value);
    }
  }
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  {
    std::lock_guard lock(mu_);
    eof_ = false;
    log_ += "---- pccheckd started\n";
  }
  std::fflush(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::FromErrno(err, "fork");
  }
  if (pid_ == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execv(exe.c_str(), argv.data());
    std::fprintf(stderr, "exec %s: %s\n", exe.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  drain_ = std::thread([this, fd = fds[0]] { Drain(fd); });

  bool exited = false;
  Status ready = WaitUntil(
      [&] {
        exited = Exited();
        return exited || QueryStatus(socket_, 1'000).ok();
      },
      std::chrono::milliseconds(options_.ready_timeout_ms), "pccheckd answers on " + socket_);
  if (exited) {
    Reap();
    return Status::Unavailable("pccheckd exited at start:\n" + Log());
  }
  if (!ready.ok()) {
    Kill();
    return Status::Unavailable(ready.message() + ":\n" + Log());
  }
  return Status::Ok();
}

void DaemonLauncher::Drain(int fd) {
  std::ofstream file(log_path_, std::ios::app);
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    file.write(buf, n);
    file.flush();
    std::lock_guard lock(mu_);
    log_.append(buf, static_cast<size_t>(n));
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

bool DaemonLauncher::Exited() const {
  std::lock_guard lock(mu_);
  return eof_;
}

void DaemonLauncher::Reap() {
  if (pid_ <= 0) return;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (drain_.joinable()) drain_.join();
}

void DaemonLauncher::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::kill(pid_, SIGCONT);
  Reap();
}

std::optional<int> DaemonLauncher::Terminate(int timeout_ms) {
  if (pid_ <= 0) return std::nullopt;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  // Its output closes when it exits: that is the event to wait for.
  std::unique_lock lock(mu_);
  const bool exited =
      cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return eof_; });
  lock.unlock();
  if (!exited) {
    Kill();
    return std::nullopt;
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (drain_.joinable()) drain_.join();
  return status;
}

void DaemonLauncher::Pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void DaemonLauncher::Resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

bool DaemonLauncher::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    if (drain_.joinable()) drain_.join();
    return false;
  }
  return true;
}

bool DaemonLauncher::WaitForLog(const std::string& needle, int timeout_ms) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return log_.find(needle) != std::string::npos; });
}

std::string DaemonLauncher::Log() const {
  std::lock_guard lock(mu_);
  return log_;
}

}  // namespace pccheck::testing
