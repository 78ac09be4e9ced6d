#include "gpu_daemon.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "pccheck/client.h"
#include "test_util.h"

namespace pccheck::testing {

GpuDaemon::GpuDaemon(std::string dir, GpuDaemonFlags flags)
    : socket_(dir + "/pccheckd.sock"),
      root_(dir + "/store"),
      log_(dir + "/pccheckd.log"),
      flags_(std::move(flags)) {}

GpuDaemon::~GpuDaemon() { Kill(); }

Status GpuDaemon::Start() {
  if (pid_ > 0) return Status::InvalidArgument("pccheckd already started");
  const std::string exe = BuildDir() + "/daemon/pccheckd";
  std::vector<std::string> args = {exe,
                                   "--root", root_,
                                   "--socket", socket_,
                                   "--pool", flags_.pool,
                                   "--chunk", flags_.chunk,
                                   "--writers", std::to_string(flags_.writers),
                                   "--max-inflight", std::to_string(flags_.max_inflight),
                                   "--policy", flags_.policy,
                                   "--direct-io", flags_.direct_io ? "true" : "false",
                                   "--log-level", "info"};
  pid_ = SpawnLogged(args, log_);
  if (pid_ < 0) return Status::FromErrno(errno, "fork");
  // Ready means answering on its socket: a readiness probe, not a sleep.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!QueryStatusJson(socket_).ok()) {
    if (!Alive()) return Status::Unavailable("pccheckd exited at start:\n" + Log());
    if (std::chrono::steady_clock::now() > deadline) {
      Kill();
      return Status::Unavailable("pccheckd did not answer within 120 s:\n" + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();
}

void GpuDaemon::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  Reap();
}

void GpuDaemon::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  Reap();
}

bool GpuDaemon::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void GpuDaemon::Reap() {
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string GpuDaemon::Log() const { return ReadTextFile(log_); }

}  // namespace pccheck::testing
