// The kill campaign: `pccheck bench` saves concurrently in a loop and is
// SIGKILLed at random moments, many times over one store. After each kill the
// store must verify and its latest step must be at least the last step the
// bench acknowledged (printed as `committed step=K`) before it died.
//
// Rounds: PCCHECK_KILL_ROUNDS, else 200 with PCCHECK_LONG=1, else 12.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>

#include "catch.h"
#include "engine/engine.h"
#include "support/test_util.h"

namespace pccheck::testing {
namespace {

int Rounds() {
  if (const char* r = std::getenv("PCCHECK_KILL_ROUNDS")) return std::atoi(r);
  if (const char* l = std::getenv("PCCHECK_LONG"); l && std::string(l) == "1") return 200;
  return 12;
}

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout
};

Child StartBench(const std::string& root) {
  const std::string exe = BuildDir() + "/daemon/pccheck";
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(exe.c_str(), exe.c_str(), "bench", "--root", root.c_str(), "--size", "3M", "--count",
          "100000", "--inflight", "3", "--chunk", "256K", "--writers", "2", "--job", "killed",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

// Reads the child's output until `deadline_ms` passes (or EOF) and returns the
// newest step it acknowledged. With deadline_ms < 0 reads to EOF.
uint64_t ReadAcks(int fd, std::string& buf, uint64_t acked, int deadline_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  for (;;) {
    int wait_ms = -1;
    if (deadline_ms >= 0) {
      wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     end - std::chrono::steady_clock::now())
                                     .count());
      if (wait_ms < 0) return acked;
    }
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, wait_ms);
    if (r == 0) return acked;
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n <= 0) return acked;
    buf.append(tmp, n);
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      unsigned long long step = 0;
      if (std::sscanf(buf.c_str(), "committed step=%llu", &step) == 1 && step > acked) {
        acked = step;
      }
    }
  }
}

// Reads until the child acknowledges a step newer than `acked` (or
// timeout_ms passes, or EOF) and returns the newest acknowledged step.
uint64_t ReadFirstAck(int fd, std::string& buf, uint64_t acked, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  uint64_t now = acked;
  while (now == acked && std::chrono::steady_clock::now() < end) {
    now = ReadAcks(fd, buf, acked, 20);
  }
  return now;
}

TEST_CASE("SIGKILL at random moments never loses an acknowledged checkpoint") {
  TempDir dir;
  const int rounds = Rounds();
  const unsigned seed = std::random_device{}();
  INFO("seed " << seed << ", rounds " << rounds);
  std::mt19937 rng(seed);
  uint64_t acked = 0;
  int killed_mid_run = 0;
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    Child c = StartBench(dir.path());
    std::string buf;
    // Odd rounds first wait for one commit of this run (starting the bench
    // can take longer than the kill window, e.g. initializing CUDA), so the
    // campaign kills mid-commit too; even rounds count from the start and
    // may kill before the first commit.
    if (round % 2 == 1) acked = ReadFirstAck(c.out, buf, acked, 60'000);
    // Then let it run for a random while.
    acked = ReadAcks(c.out, buf, acked, std::uniform_int_distribution<int>(0, 250)(rng));
    REQUIRE(kill(c.pid, SIGKILL) == 0);
    // Lines it printed before dying were acknowledgements too.
    acked = ReadAcks(c.out, buf, acked, -1);
    int status = 0;
    REQUIRE(waitpid(c.pid, &status, 0) == c.pid);
    close(c.out);
    REQUIRE(WIFSIGNALED(status));
    ++killed_mid_run;

    auto fs = NewPosixFileSystem();
    auto gpu = NewFakeGpu();
    EngineOptions o;
    o.root = dir.path();
    o.chunk_bytes = 256 << 10;
    o.pool_bytes = 2 * o.chunk_bytes;
    auto engine = Engine::Open(o, fs.get(), gpu.get());
    REQUIRE(engine.ok());
    auto latest = (*engine)->LatestStep("killed", 0);
    if (acked > 0) {
      REQUIRE(latest.has_value());
      CHECK(*latest >= acked);
    }
    for (const auto& info : (*engine)->List()) {
      INFO("step " << info.step << ": " << info.state);
      CHECK(info.state == "committed");
      Status v = (*engine)->Verify(info.job, info.rank, info.step);
      INFO(v.ToString());
      CHECK(v.ok());
    }
  }
  CHECK(killed_mid_run == rounds);
  INFO("last acknowledged step " << acked);
  CHECK(acked > 0);  // the campaign did exercise commits
}

}  // namespace
}  // namespace pccheck::testing
