#include "support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "catch.h"
#include "fd_wait.h"

namespace pccheck::testing {

using fd_wait::After;
using fd_wait::MsLeft;
using fd_wait::Readable;
using fd_wait::ReadSome;

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

}  // namespace pccheck::testing
