// gpu_tests' main. Without a usable CUDA device it prints one line per test
// case, "SKIP <name>: no CUDA device (<reason>)", and exits 0. With one, and
// no arguments, it runs every case in a child process of its own (a CUDA
// error that poisons a context stays in that case), prints "PASS <name>" or
// "FAIL <name>" with the end of the case's output, and exits 1 when any
// failed. Arguments are Catch2's, run in this process (for one case by name).
// Catch2's session, for Catch2 2 and 3 alike (as in tests/catch_main.cc).
#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cuda_testing.h"
#include "gpu_cases.h"
#include "support/wait_until.h"

namespace pccheck::testing {

std::vector<std::string>& GpuCaseNames() {
  static std::vector<std::string> names;
  return names;
}

namespace {

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += "    " + all[i] + "\n";
  }
  return out;
}

// Catch's filter for exactly the case `name`: its separators (',') and
// tag brackets are escaped.
std::string CatchFilter(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == ',' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Runs `name` in `self` as a child; its output goes to `log`. Returns a
// wait status, or -1 when it ran past timeout_s (then it is killed).
int RunCase(const std::string& self, const std::string& name, const std::string& log,
            int timeout_s) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(self.c_str(), self.c_str(), CatchFilter(name).c_str(), "--durations", "yes",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (WaitUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                std::chrono::seconds(timeout_s), "the case's process exited")
          .ok()) {
    return status;
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// A case exits with this status when the machine lacks what it needs.
constexpr int kSkipStatus = 77;

int RunEachCase(const std::string& self) {
  const char* env = std::getenv("PCCHECK_GPU_CASE_TIMEOUT");
  const int timeout_s = env != nullptr ? std::atoi(env) : 300;
  const char* tmp = std::getenv("TMPDIR");
  int failed = 0;
  for (const std::string& name : GpuCaseNames()) {
    const std::string log =
        std::string(tmp ? tmp : "/tmp") + "/gpu_tests." + std::to_string(getpid()) + ".case.log";
    const auto start = std::chrono::steady_clock::now();
    const int status = RunCase(self, name, log, timeout_s);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const bool ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const bool skipped = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == kSkipStatus;
    if (ok) {
      std::printf("PASS %s (%.1f s)\n", name.c_str(), secs);
    } else if (skipped) {  // the case said why on its last line
      std::string why = Tail(log, 1);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      const size_t lead = why.find_first_not_of(' ');
      std::printf("SKIP %s: %s\n", name.c_str(),
                  lead == std::string::npos ? "" : why.c_str() + lead);
    } else {
      ++failed;
      std::string why = status < 0 ? "timed out after " + std::to_string(timeout_s) + " s"
                        : WIFSIGNALED(status)
                            ? "killed by signal " + std::to_string(WTERMSIG(status))
                            : "exit status " + std::to_string(WEXITSTATUS(status));
      std::printf("FAIL %s: %s; the end of its output:\n%s", name.c_str(), why.c_str(),
                  Tail(log, 40).c_str());
    }
    std::fflush(stdout);
    unlink(log.c_str());
  }
  std::printf("%zu GPU test cases, %d failed\n", GpuCaseNames().size(), failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace pccheck::testing

int main(int argc, char* argv[]) {
  using namespace pccheck::testing;
  if (argc >= 2 && std::string(argv[1]) == "--trainer-child") {
    return TrainerChildMain(argc - 2, argv + 2);
  }
  std::string why;
  // PCCHECK_GPU_TESTS_FORCE=1 runs the cases anyway (they then fail): a check
  // of this runner on a machine without a GPU.
  const char* force = std::getenv("PCCHECK_GPU_TESTS_FORCE");
  if (!CudaUsable(&why) && (force == nullptr || std::string(force) != "1")) {
    for (const std::string& name : GpuCaseNames()) {
      std::printf("SKIP %s: no CUDA device (%s)\n", name.c_str(), why.c_str());
    }
    return 0;
  }
  if (argc == 1) return RunEachCase("/proc/self/exe");
  return Catch::Session().run(argc, argv);
}
