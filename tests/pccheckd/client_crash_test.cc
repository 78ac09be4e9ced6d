// A trainer killed with SIGKILL in the middle of saving (DESIGN.md,
// "Failures"): its session is torn down, snapshots already in the daemon's
// memory still commit, the rest are abandoned and their memory returned, and
// every other client is served as before.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "catch.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/run_program.h"
#include "support/wait_until.h"
#include "support/watchdog.h"
#include "test_trainer.h"

namespace pccheck::testing {
namespace {

// Polls the daemon's status (WaitUntil) until `done` holds for it or
// timeout_ms passes; returns the last document.
template <typename Done>
JsonValue PollStatus(const Daemon& daemon, int timeout_ms, Done done, bool* met) {
  JsonValue doc;
  *met = WaitUntil(
             [&] {
               doc = daemon.Status();
               return done(doc);
             },
             std::chrono::milliseconds(timeout_ms), "the daemon's status shows it")
             .ok();
  return doc;
}

bool HasSession(const JsonValue& status, const std::string& job) {
  for (const auto& s : status["sessions"].items()) {
    if (s["job"].AsString() == job) return true;
  }
  return false;
}

// Saves big checkpoints back to back, reporting "snapshot K" once step K's
// snapshot is in the daemon's memory and "committed K" once it committed.
int SaveForever(const std::string& socket, int out) {
  auto t = TestTrainer::Open(socket, "victim", 0, 24u << 20);  // 3x the pool
  if (!t.ok()) return Fail(out, "open: " + t.status().ToString());
  std::vector<std::pair<uint64_t, uint64_t>> pending;  // ticket, step
  for (uint64_t step = 1;; ++step) {
    auto ticket = (*t)->Step(step);  // returns once every earlier snapshot is done
    if (!ticket.ok()) return Fail(out, "save: " + ticket.status().ToString());
    if (step > 1) Report(out, "snapshot " + std::to_string(step - 1));
    pending.emplace_back(*ticket, step);
    for (auto it = pending.begin(); it != pending.end();) {
      auto state = (*t)->client().Poll(it->first);
      if (state.ok() && *state == SaveState::kCommitted) {
        Report(out, "committed " + std::to_string(it->second));
        it = pending.erase(it);
      } else if (state.ok() && *state == SaveState::kFailed) {
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
}

TEST_CASE(
    "a client SIGKILLed mid-save: the daemon serves on, frees its memory, commits its "
    "snapshots",
    "[daemon][crash]") {
  Watchdog watchdog(120);
  Daemon daemon({"--pool", "8MiB", "--max-inflight", "2"});
  daemon.Start();
  watchdog.Guard(daemon.pid());

  auto other = TestTrainer::Open(daemon.socket(), "bystander", 0, 2u << 20);
  REQUIRE(other.status().ToString() == "Ok");
  REQUIRE((*other)->client().Wait((*other)->Step(1).value(), 30'000).ToString() == "Ok");

  ChildProcess victim([&](int out) { return SaveForever(daemon.socket(), out); });
  watchdog.Guard(victim.pid());
  uint64_t snapshotted = 0, committed = 0;
  auto account = [&](const std::string& line) {
    unsigned long long step = 0;
    if (std::sscanf(line.c_str(), "snapshot %llu", &step) == 1)
      snapshotted = std::max<uint64_t>(snapshotted, step);
    if (std::sscanf(line.c_str(), "committed %llu", &step) == 1)
      committed = std::max<uint64_t>(committed, step);
  };
  // Kill it once several snapshots went through: it always has a save in flight.
  while (snapshotted < 4) {
    auto line = victim.ReadLine(60'000);
    INFO(daemon.Log());
    REQUIRE(line.has_value());
    INFO(*line);
    REQUIRE_FALSE(line->starts_with("save:"));
    account(*line);
  }
  victim.Kill();
  // What it printed before it died was acknowledged before the kill too.
  for (auto line = victim.ReadLine(5'000); line; line = victim.ReadLine(5'000)) account(*line);
  INFO("the victim saw snapshot " << snapshotted << " and commit " << committed);

  // The daemon keeps serving the other client, during the teardown and after.
  REQUIRE((*other)->client().Wait((*other)->Step(2).value(), 30'000).ToString() == "Ok");

  bool settled = false;
  JsonValue status = PollStatus(
      daemon, 30'000,
      [](const JsonValue& s) { return s["inflight"].items().empty() && !HasSession(s, "victim"); },
      &settled);
  INFO(daemon.Log());
  REQUIRE(settled);
  CHECK(status["pool_bytes_free"].AsUint() == status["pool_bytes_total"].AsUint());
  CHECK(status["pool_bytes_total"].AsUint() == 8u << 20);
  CHECK(HasSession(status, "bystander"));
  CHECK(daemon.WaitForLog("job victim rank 0", 1000));

  // Every snapshot the daemon had taken committed (or a newer one did).
  auto back = TestTrainer::Open(daemon.socket(), "victim", 0, 24u << 20);
  REQUIRE(back.status().ToString() == "Ok");
  auto latest = (*back)->client().LatestStep();
  REQUIRE(latest.ok());
  REQUIRE(latest->has_value());
  CHECK(**latest >= snapshotted);
  CHECK(**latest >= committed);
  auto restored = (*back)->RestoreAndCheck();
  CHECK(restored.status().ToString() == "Ok");
  CHECK((*other)->RestoreAndCheck().value() == 2);

  back->reset();
  other->reset();
  auto exit = daemon.Terminate(30'000);
  CHECK(DescribeExit(exit) == "exit status 0");
  CliRun verify = RunPccheck({"verify", "--root", daemon.root()});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
}

}  // namespace
}  // namespace pccheck::testing
