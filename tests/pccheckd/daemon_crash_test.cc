// The daemon dies or is stopped while saves are in flight (DESIGN.md,
// "Failures"): clients see it at once and never hang, the same Client object
// reconnects to a restarted daemon, SIGTERM ends it cleanly, and the store
// verifies after both.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "catch.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/run_program.h"
#include "support/watchdog.h"
#include "test_trainer.h"

namespace pccheck::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// The newest step the store's `latest` names for job/rank 0, from `pccheck list`.
uint64_t LatestInStore(const std::string& root, const std::string& job) {
  CliRun list = RunPccheck({"list", "--root", root, "--json"});
  INFO(list.out << list.err);
  REQUIRE(list.exit_code == 0);
  auto doc = ParseJson(list.out);
  REQUIRE(doc.ok());
  uint64_t latest = 0;
  for (const auto& c : doc->items()) {
    if (c["job"].AsString() == job && c["latest"].AsBool()) latest = c["step"].AsUint();
  }
  return latest;
}

TEST_CASE(
    "the daemon SIGKILLed mid-save: calls fail fast, the same client reconnects after a "
    "restart",
    "[daemon][crash]") {
  Watchdog watchdog(120);
  Daemon daemon({"--pool", "4MiB"});
  daemon.Start();
  watchdog.Guard(daemon.pid());
  auto t = TestTrainer::Open(daemon.socket(), "survivor", 0, 24u << 20);
  REQUIRE(t.status().ToString() == "Ok");
  Client& client = (*t)->client();
  REQUIRE(client.Wait((*t)->Step(1).value(), 30'000).ToString() == "Ok");

  // Step 3 was just posted (and step 2 may still be writing) when it dies.
  const uint64_t t2 = (*t)->Step(2).value();
  const uint64_t t3 = (*t)->Step(3).value();
  daemon.Kill();

  auto t0 = SteadyClock::now();
  Status waited = client.Wait(t3, 20'000);
  CHECK(SecondsSince(t0) < 10);
  CHECK(waited.code() == Code::kUnavailable);
  CHECK(Contains(waited.message(), daemon.socket()));
  CHECK(client.Poll(t3).value() == SaveState::kFailed);
  const Status w2 = client.Wait(t2, 1'000);  // committed before the kill, or failed with it
  CHECK((w2.ok() || w2.code() == Code::kUnavailable));

  // Without a daemon every call fails fast, naming the socket; training goes on.
  t0 = SteadyClock::now();
  auto refused = client.Save(4);
  CHECK(refused.status().code() == Code::kUnavailable);
  CHECK(Contains(refused.status().message(), daemon.socket()));
  CHECK(client.LatestStep().status().code() == Code::kUnavailable);
  CHECK(SecondsSince(t0) < 5);
  CHECK_FALSE(client.connected());

  // Back on the same socket and store: the same Client object reconnects on
  // its next call and hands over its shared memory and tensors.
  daemon.Start();
  watchdog.Guard(daemon.pid());
  auto again = (*t)->Step(5);
  INFO(daemon.Log());
  REQUIRE(again.status().ToString() == "Ok");
  CHECK(client.connected());
  REQUIRE(client.Wait(*again, 30'000).ToString() == "Ok");
  auto restored = (*t)->RestoreAndCheck();
  REQUIRE(restored.status().ToString() == "Ok");
  CHECK(*restored == 5);

  t->reset();
  auto exit = daemon.Terminate(30'000);
  CHECK(DescribeExit(exit) == "exit status 0");
  CliRun verify = RunPccheck({"verify", "--root", daemon.root()});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(LatestInStore(daemon.root(), "survivor") == 5);
}

TEST_CASE(
    "SIGTERM with saves in flight: pccheckd exits 0 within its shutdown timeout and the "
    "store verifies",
    "[daemon][crash]") {
  Watchdog watchdog(120);
  constexpr int kShutdownTimeoutS = 20;
  Daemon daemon({"--pool", "4MiB", "--shutdown-timeout", std::to_string(kShutdownTimeoutS)});
  daemon.Start();
  watchdog.Guard(daemon.pid());

  // A second trainer in its own process keeps saving until the daemon goes.
  ChildProcess busy([&](int out) {
    auto t = TestTrainer::Open(daemon.socket(), "busy", 0, 16u << 20);
    if (!t.ok()) return Fail(out, "open: " + t.status().ToString());
    Report(out, "ready");
    for (uint64_t step = 1;; ++step) {
      auto ticket = (*t)->Step(step);
      if (!ticket.ok()) {
        Report(out, "stopped: " + ticket.status().ToString());
        return 0;
      }
    }
  });
  watchdog.Guard(busy.pid());
  REQUIRE(busy.ReadLine(30'000) == std::optional<std::string>("ready"));

  auto t = TestTrainer::Open(daemon.socket(), "term", 0, 24u << 20);
  REQUIRE(t.status().ToString() == "Ok");
  Client& client = (*t)->client();
  REQUIRE(client.Wait((*t)->Step(1).value(), 30'000).ToString() == "Ok");
  const uint64_t t2 = (*t)->Step(2).value();
  const uint64_t t3 = (*t)->Step(3).value();

  const auto t0 = SteadyClock::now();
  auto exit = daemon.Terminate((kShutdownTimeoutS + 10) * 1000);
  INFO(daemon.Log());
  CHECK(DescribeExit(exit) == "exit status 0");
  CHECK(SecondsSince(t0) < kShutdownTimeoutS + 5);
  CHECK(daemon.WaitForLog("SIGTERM: shutting down", 0));
  CHECK(daemon.WaitForLog("stopped:", 0));

  // Its clients learn it at once, whatever became of their saves.
  uint64_t acked = 1;
  for (auto [ticket, step] : {std::pair{t2, uint64_t{2}}, std::pair{t3, uint64_t{3}}}) {
    Status s = client.Wait(ticket, 10'000);
    INFO("step " << step << ": " << s.ToString());
    CHECK((s.ok() || s.code() == Code::kUnavailable || s.code() == Code::kAborted));
    CHECK_FALSE(s.message().starts_with("timed out"));
    if (s.ok()) acked = step;
  }
  std::vector<std::string> said;
  CHECK(busy.ReadAll(&said, 20'000));
  CHECK(ExitedOk(busy.Wait(10'000)));

  t->reset();
  CliRun verify = RunPccheck({"verify", "--root", daemon.root()});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(LatestInStore(daemon.root(), "term") >= acked);
}

}  // namespace
}  // namespace pccheck::testing
