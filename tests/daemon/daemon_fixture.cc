#include "daemon_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

#include "catch.h"
#include "pccheck/client.h"

namespace pccheck::testing {

namespace {

using SteadyClock = std::chrono::steady_clock;

int MsLeft(SteadyClock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

SteadyClock::time_point After(int ms) { return SteadyClock::now() + std::chrono::milliseconds(ms); }

// Reads what is there on fd into buf; false at EOF or error.
bool ReadSome(int fd, std::string* buf) {
  char tmp[8192];
  for (;;) {
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n > 0) {
      buf->append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Waits for fd to be readable; false when the deadline passed first.
bool Readable(int fd, SteadyClock::time_point deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, MsLeft(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// ---- Daemon ------------------------------------------------------------------------

Daemon::Daemon(std::vector<std::string> extra, std::string socket)
    : socket_(socket.empty() ? dir_.path() + "/pccheckd.sock" : std::move(socket)),
      root_(dir_.path() + "/store"),
      extra_(std::move(extra)) {}

Daemon::~Daemon() {
  Kill();
  if (drain_.joinable()) drain_.join();
}

void Daemon::Start() {
  REQUIRE(pid_ < 0);
  if (drain_.joinable()) drain_.join();
  const std::string exe = BuildDir() + "/daemon/pccheckd";
  std::vector<std::string> args = {exe, "--root", root_, "--socket", socket_};
  // Defaults, unless `extra` sets them (a flag may be given only once).
  const std::pair<const char*, const char*> defaults[] = {
      {"--pool", "16MiB"}, {"--chunk", "1MiB"}, {"--direct-io", "false"}, {"--log-level", "debug"}};
  for (const auto& [flag, value] : defaults) {
    if (std::find(extra_.begin(), extra_.end(), flag) == extra_.end()) {
      args.push_back(flag);
      args.push_back(value);
    }
  }
  args.insert(args.end(), extra_.begin(), extra_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  {
    std::lock_guard lock(mu_);
    eof_ = false;
    log_ += "---- pccheckd started\n";
  }
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execv(exe.c_str(), argv.data());
    std::fprintf(stderr, "exec %s: %s\n", exe.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  drain_ = std::thread([this, fd = fds[0]] { Drain(fd); });

  const size_t run_start = Log().size();
  const auto deadline = After(30'000);
  std::unique_lock lock(mu_);
  const bool ready = cv_.wait_until(
      lock, deadline, [&] { return eof_ || log_.find("] ready", run_start) != std::string::npos; });
  const bool died = eof_;
  lock.unlock();
  if (!ready || died) {
    Kill();
    FAIL("pccheckd " << (died ? "exited at start" : "was not ready in 30 s") << ":\n" << Log());
  }
  auto status = QueryStatusJson(socket_);
  INFO(Log());
  REQUIRE(status.status().ToString() == "Ok");
}

void Daemon::Drain(int fd) {
  std::string chunk;
  while (ReadSome(fd, &chunk)) {
    std::lock_guard lock(mu_);
    log_ += chunk;
    chunk.clear();
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

void Daemon::Reap() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (drain_.joinable()) drain_.join();
}

void Daemon::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Reap();
}

std::optional<int> Daemon::Terminate(int timeout_ms) {
  REQUIRE(pid_ > 0);
  ::kill(pid_, SIGTERM);
  // Its stderr closes when it exits: that is the event to wait for.
  std::unique_lock lock(mu_);
  const bool exited = cv_.wait_until(lock, After(timeout_ms), [&] { return eof_; });
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

bool Daemon::WaitForLog(const std::string& needle, int timeout_ms) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, After(timeout_ms),
                        [&] { return log_.find(needle) != std::string::npos; });
}

std::string Daemon::Log() const {
  std::lock_guard lock(mu_);
  return log_;
}

JsonValue Daemon::Status() const {
  auto json = QueryStatusJson(socket_);
  INFO(Log());
  REQUIRE(json.status().ToString() == "Ok");
  auto doc = ParseJson(*json);
  INFO(*json);
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

// ---- ChildProcess --------------------------------------------------------------------

void Report(int out, const std::string& line) {
  const std::string l = line + "\n";
  for (size_t done = 0; done < l.size();) {
    ssize_t n = ::write(out, l.data() + done, l.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

int Fail(int out, const std::string& why) {
  Report(out, why);
  return 1;
}

bool ExitedOk(const std::optional<int>& status) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

std::string DescribeExit(const std::optional<int>& status) {
  if (!status) return "did not exit in time";
  if (WIFSIGNALED(*status)) return "killed by signal " + std::to_string(WTERMSIG(*status));
  return "exit status " + std::to_string(WEXITSTATUS(*status));
}

ChildProcess::ChildProcess(const std::function<int(int out)>& body) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::fflush(nullptr);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::close(fds[0]);
    int code = 99;
    try {
      code = body(fds[1]);
    } catch (...) {
      Report(fds[1], "child: exception");
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  ::close(fds[1]);
  fd_ = fds[0];
}

ChildProcess::~ChildProcess() {
  Kill();
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> ChildProcess::ReadLine(int timeout_ms) {
  const auto deadline = After(timeout_ms);
  for (;;) {
    if (auto nl = buf_.find('\n'); nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    if (eof_ || !Readable(fd_, deadline)) return std::nullopt;
    if (!ReadSome(fd_, &buf_)) eof_ = true;
  }
}

bool ChildProcess::ReadAll(std::vector<std::string>* lines, int timeout_ms) {
  const auto deadline = After(timeout_ms);
  for (;;) {
    auto line = ReadLine(MsLeft(deadline));
    if (line) {
      lines->push_back(*line);
      continue;
    }
    return eof_;
  }
}

std::optional<int> ChildProcess::Wait(int timeout_ms) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = After(timeout_ms);
  // Its end of the pipe closes when it exits (nothing else holds it).
  while (!eof_) {
    if (!Readable(fd_, deadline)) return std::nullopt;
    if (!ReadSome(fd_, &buf_)) eof_ = true;
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

// ---- Watchdog --------------------------------------------------------------------------

Watchdog::Watchdog(int seconds) {
  thread_ = std::thread([this, seconds] {
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::seconds(seconds), [&] { return done_; })) return;
    fired_ = true;
    std::fprintf(stderr, "watchdog: the test ran past %d s; killing its processes\n", seconds);
    for (pid_t p : pids_) ::kill(p, SIGKILL);
    if (cv_.wait_for(lock, std::chrono::seconds(30), [&] { return done_; })) return;
    std::fprintf(stderr, "watchdog: the test is still stuck 30 s later; exiting\n");
    std::fflush(nullptr);
    std::_Exit(124);
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  thread_.join();
  // Not while a failed REQUIRE unwinds the test: that failure is the one to report.
  if (std::uncaught_exceptions() == 0) CHECK_FALSE(fired());
}

void Watchdog::Guard(pid_t pid) {
  std::lock_guard lock(mu_);
  pids_.push_back(pid);
}

bool Watchdog::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

// ---- the CLI ---------------------------------------------------------------------------

CliRun RunPccheck(const std::vector<std::string>& args, int timeout_ms) {
  return RunProgram("daemon/pccheck", args, timeout_ms);
}

CliRun RunProgram(const std::string& program, const std::vector<std::string>& args,
                  int timeout_ms) {
  const std::string exe = BuildDir() + "/" + program;
  std::vector<std::string> all = {exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  CliRun run;
  const auto deadline = After(timeout_ms);
  bool out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    int n = ::poll(p, 2, MsLeft(deadline));
    if (n == 0) {
      timed_out = true;
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents && !ReadSome(out[0], &run.out)) out_open = false;
    if (p[1].revents && !ReadSome(err[0], &run.err)) err_open = false;
  }
  if (timed_out) ::kill(pid, SIGKILL);
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = timed_out           ? 124
                  : WIFEXITED(status) ? WEXITSTATUS(status)
                                      : 128 + WTERMSIG(status);
  return run;
}

}  // namespace pccheck::testing
