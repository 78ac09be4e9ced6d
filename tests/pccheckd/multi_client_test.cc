// Several trainers, each its own process, share one pccheckd; and the CLI's
// view of a running daemon (`pccheck status`, `pccheck bench --socket`).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "catch.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/run_program.h"
#include "support/test_util.h"
#include "support/watchdog.h"
#include "test_trainer.h"

namespace pccheck::testing {
namespace {

TEST_CASE("ranks in separate processes save and restore through one daemon, bit for bit",
          "[daemon]") {
  Watchdog watchdog(120);
  Daemon daemon({"--pool", "8MiB"});
  daemon.Start();
  watchdog.Guard(daemon.pid());
  constexpr int kRanks = 4;
  constexpr uint64_t kSteps = 6;

  // Every rank connects and registers, says "ready", and saves once all are:
  // the saves of the four overlap in the daemon's pool and writers.
  int go[2];
  REQUIRE(pipe2(go, O_CLOEXEC) == 0);
  std::vector<std::unique_ptr<ChildProcess>> ranks;
  for (uint32_t r = 0; r < kRanks; ++r) {
    ranks.push_back(std::make_unique<ChildProcess>([&, r](int out) {
      close(go[1]);
      auto t = TestTrainer::Open(daemon.socket(), "multi", r, (3u << 20) + 4096 * r);
      if (!t.ok()) return Fail(out, "open: " + t.status().ToString());
      Report(out, "ready");
      char c;
      if (read(go[0], &c, 1) != 1) return 2;
      std::vector<uint64_t> tickets;
      for (uint64_t step = 1; step <= kSteps; ++step) {
        auto ticket = (*t)->Step(step);
        if (!ticket.ok()) return Fail(out, "save: " + ticket.status().ToString());
        tickets.push_back(*ticket);
      }
      // Each commits, or is abandoned because a newer step committed first.
      for (uint64_t ticket : tickets) {
        Status s = (*t)->client().Wait(ticket, 60'000);
        const bool superseded = s.code() == Code::kAborted && !s.message().starts_with("timed out");
        if (!s.ok() && (!superseded || ticket == tickets.back())) {
          return Fail(out, "wait: " + s.ToString());
        }
        Report(out, s.ok() ? "committed" : "superseded");
      }
      auto restored = (*t)->RestoreAndCheck();
      if (!restored.ok()) return Fail(out, "restore: " + restored.status().ToString());
      if (*restored != kSteps) return Fail(out, "restored " + std::to_string(*restored));
      // An older step still in the store restores bit for bit too.
      auto list = (*t)->client().List();
      if (!list.ok()) return Fail(out, "list: " + list.status().ToString());
      uint64_t older = 0;
      for (const auto& e : *list) {
        if (e.step < kSteps) older = std::max(older, e.step);
      }
      if (older == 0) return Fail(out, "no older step in the store");
      auto again = (*t)->RestoreAndCheck(older);
      if (!again.ok()) return Fail(out, "restore older: " + again.status().ToString());
      Report(out, "ok");
      return 0;
    }));
    watchdog.Guard(ranks.back()->pid());
  }
  close(go[0]);
  for (auto& r : ranks) {
    auto line = r->ReadLine(30'000);
    INFO(daemon.Log());
    REQUIRE(line == std::optional<std::string>("ready"));
  }
  auto status = daemon.Status();
  CHECK(status["sessions"].items().size() == kRanks);
  REQUIRE(write(go[1], "gggg", kRanks) == kRanks);
  close(go[1]);

  for (uint32_t r = 0; r < kRanks; ++r) {
    std::vector<std::string> lines;
    CHECK(ranks[r]->ReadAll(&lines, 90'000));
    auto exit = ranks[r]->Wait(10'000);
    std::string said;
    for (auto& l : lines) said += l + "\n";
    INFO("rank " << r << " (" << DescribeExit(exit) << ") said:\n" << said);
    CHECK(ExitedOk(exit));
    CHECK(Contains(said, "ok"));
  }
  status = daemon.Status();
  // Every save ended without failing: committed, superseded by a newer
  // commit, or (the default policy) coalesced by a newer snapshot.
  CHECK(status["saves_committed"].AsUint() + status["saves_aborted"].AsUint() +
            status["saves_coalesced"].AsUint() ==
        kRanks * kSteps);
  CHECK(status["saves_failed"].AsUint() == 0);
}

TEST_CASE("pccheck status shows a running daemon, readable and as JSON", "[daemon][cli]") {
  Watchdog watchdog(60);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  auto t = TestTrainer::Open(daemon.socket(), "statusjob", 3, 1 << 20);
  REQUIRE(t.status().ToString() == "Ok");
  REQUIRE((*t)->client().Wait((*t)->Step(1).value(), 30'000).ok());

  CliRun json = RunPccheck({"status", "--socket", daemon.socket(), "--json"});
  INFO(json.err);
  REQUIRE(json.exit_code == 0);
  auto doc = ParseJson(json.out);
  REQUIRE(doc.ok());
  REQUIRE((*doc)["sessions"].items().size() == 1);
  CHECK((*doc)["sessions"].items()[0]["job"].AsString() == "statusjob");
  CHECK((*doc)["sessions"].items()[0]["rank"].AsUint() == 3);
  CHECK((*doc)["sessions"].items()[0]["pid"].AsInt() == getpid());
  CHECK((*doc)["pool_bytes_total"].AsUint() == 16u << 20);
  CHECK((*doc)["config"]["root"].AsString() == daemon.root());
  CHECK((*doc)["saves_committed"].AsUint() == 1);
  CHECK((*doc)["inflight"].is_array());

  CliRun text = RunPccheck({"status", "--socket", daemon.socket()});
  INFO(text.out << text.err);
  REQUIRE(text.exit_code == 0);
  CHECK(Contains(text.out, "sessions  1"));
  CHECK(Contains(text.out, "statusjob"));
  CHECK(Contains(text.out, std::to_string(getpid())));
  CHECK(Contains(text.out, "16 MiB"));  // the pool
  CHECK(Contains(text.out, daemon.root()));
  CHECK(Contains(text.out, "1 committed"));

  daemon.Kill();
  CliRun down = RunPccheck({"status", "--socket", daemon.socket()});
  CHECK(down.exit_code == 1);
  CHECK(Contains(down.err, daemon.socket()));
  CHECK(Contains(down.err, "pccheckd --socket"));
}

TEST_CASE("pccheck bench --socket drives a daemon with several client processes", "[daemon][cli]") {
  Watchdog watchdog(120);
  // The throughput bench persists every save: `block` (the default policy
  // may coalesce a save that waits while another is written).
  Daemon daemon({"--policy", "block"});
  daemon.Start();
  watchdog.Guard(daemon.pid());
  CliRun run = RunPccheck({"bench", "--socket", daemon.socket(), "--size", "2M", "--count", "3",
                           "--clients", "2", "--job", "benchjob", "--json"});
  INFO(run.out << run.err << daemon.Log());
  REQUIRE(run.exit_code == 0);
  int committed = 0;
  std::string last_line;
  for (size_t at = 0, nl; (nl = run.out.find('\n', at)) != std::string::npos; at = nl + 1) {
    last_line = run.out.substr(at, nl - at);
    if (last_line.starts_with("committed step=")) {
      ++committed;
      CHECK(Contains(last_line, " rank="));
    }
  }
  auto doc = ParseJson(last_line);
  REQUIRE(doc.ok());
  // Each save commits, or is abandoned because a newer one of its rank
  // committed first (newest wins); the newest of each rank always commits.
  const uint64_t checkpoints = (*doc)["checkpoints"].AsUint();
  CHECK(checkpoints + (*doc)["superseded"].AsUint() == 6);
  CHECK(checkpoints >= 2);
  CHECK(static_cast<uint64_t>(committed) == checkpoints);
  CHECK((*doc)["failed"].AsUint() == 0);
  CHECK((*doc)["clients"].AsUint() == 2);
  CHECK((*doc)["bytes"].AsUint() == checkpoints * (2u << 20));
  CHECK((*doc)["persist_gbps"].AsDouble() > 0);
  CHECK((*doc)["raw_direct_gbps"].AsDouble() > 0);
  CHECK((*doc)["save_hold_us_p50"].AsDouble() > 0);
  CHECK((*doc)["save_hold_us_p99"].AsDouble() >= (*doc)["save_hold_us_p50"].AsDouble());
  CHECK((*doc)["save_calls"].AsUint() == 6);
  CHECK((*doc)["root"].AsString() == daemon.root());

  // The steps went to the daemon's store, ranks 0 and 1 of the job.
  auto status = daemon.Status();
  CHECK(status["saves_committed"].AsUint() == checkpoints);
  CHECK(status["sessions"].items().empty());
}

}  // namespace
}  // namespace pccheck::testing
