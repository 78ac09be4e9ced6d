#include "daemon_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "catch.h"
#include "pccheck/client.h"
#include "test_util.h"

namespace pccheck::testing {

DaemonProcess::DaemonProcess(std::vector<std::string> extra)
    : socket_(dir_.path() + "/d.sock"),
      root_(dir_.path() + "/root"),
      log_(dir_.path() + "/pccheckd.log"),
      extra_(std::move(extra)) {}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Kill();
}

void DaemonProcess::Start() {
  REQUIRE(pid_ < 0);
  const std::string exe = BuildDir() + "/daemon/pccheckd";
  std::vector<std::string> args = {exe,      "--root",      root_,     "--socket", socket_,
                                   "--pool", "32MiB",       "--chunk", "1MiB",     "--direct-io",
                                   "false",  "--log-level", "debug"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  pid_ = SpawnLogged(args, log_);
  REQUIRE(pid_ >= 0);
  // Ready means answering on its socket; a readiness probe, not a sleep.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!QueryStatusJson(socket_).ok()) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("pccheckd exited at start:\n" << Log());
    }
    if (std::chrono::steady_clock::now() > deadline) FAIL("pccheckd did not start:\n" << Log());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void DaemonProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  Reap();
}

void DaemonProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  Reap();
}

void DaemonProcess::Pause() { kill(pid_, SIGSTOP); }
void DaemonProcess::Resume() { kill(pid_, SIGCONT); }

void DaemonProcess::Reap() {
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string DaemonProcess::Log() const { return ReadTextFile(log_); }

}  // namespace pccheck::testing
