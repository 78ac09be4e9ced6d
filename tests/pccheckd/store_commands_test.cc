// The store lock, retention and the recovery commands against a real
// pccheckd: a second daemon (or a bench) on its store is refused by name;
// `pccheck list`, `verify` and `prune` ask the daemon that owns a store
// (found from --socket or from the store's lock file) and read the directory
// directly when none runs there.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catch.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/run_program.h"
#include "support/watchdog.h"
#include "test_trainer.h"

namespace pccheck::testing {
namespace {

namespace stdfs = std::filesystem;

JsonValue Json(const CliRun& run) {
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  auto doc = ParseJson(run.out);
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

// Saves steps first..last as job "keep" rank 0, each committed before the next.
void SaveSteps(Daemon& daemon, uint64_t first, uint64_t last) {
  auto t = TestTrainer::Open(daemon.socket(), "keep", 0, 2u << 20);
  REQUIRE(t.status().ToString() == "Ok");
  for (uint64_t step = first; step <= last; ++step) {
    auto ticket = (*t)->Step(step);
    REQUIRE(ticket.status().ToString() == "Ok");
    REQUIRE((*t)->client().Wait(*ticket, 30'000).ToString() == "Ok");
  }
}

struct Steps {
  std::vector<uint64_t> ring, kept;
  uint64_t latest = 0;
};

Steps StepsOf(const JsonValue& list) {
  Steps s;
  for (const auto& c : list.items()) {
    CHECK(c["job"].AsString() == "keep");
    CHECK(c["rank"].AsUint(99) == 0);
    CHECK(c["state"].AsString() == "committed");
    CHECK(c["bytes"].AsUint() >= (1u << 20));
    (c["kept"].AsBool() ? s.kept : s.ring).push_back(c["step"].AsUint());
    if (c["kept"].AsBool()) CHECK(c["slot"].is_null());
    if (c["latest"].AsBool()) s.latest = c["step"].AsUint();
  }
  return s;
}

TEST_CASE("a second pccheckd or a bench on a daemon's store is refused, naming it",
          "[daemon][lock]") {
  Watchdog watchdog(120);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  const std::string lock_file = daemon.root() + "/.pccheckd.lock";
  CHECK(ReadTextFile(lock_file) == "pid=" + std::to_string(daemon.pid()) +
                                       "\nsocket=" + daemon.socket() + "\nowner=pccheckd\n");

  TempDir other;
  CliRun second = RunProgram("daemon/pccheckd",
                             {"--root", daemon.root(), "--socket", other.path() + "/second.sock",
                              "--pool", "16MiB", "--chunk", "1MiB"},
                             30'000);
  INFO(second.out << second.err);
  CHECK(second.exit_code != 0);
  const std::string said = second.out + second.err;
  CHECK(Contains(said, "pid " + std::to_string(daemon.pid())));
  CHECK(Contains(said, daemon.socket()));
  CHECK_FALSE(stdfs::exists(other.path() + "/second.sock"));

  CliRun bench = RunPccheck({"bench", "--root", daemon.root(), "--size", "1M", "--count", "1"});
  INFO(bench.out << bench.err);
  CHECK(bench.exit_code == 1);
  CHECK(Contains(bench.err, "pccheckd (pid " + std::to_string(daemon.pid())));
  CHECK_FALSE(Contains(bench.out, "committed step="));

  // A clean stop lets go of the store and removes the lock file.
  CHECK(DescribeExit(daemon.Terminate(30'000)) == "exit status 0");
  CHECK_FALSE(stdfs::exists(lock_file));
}

TEST_CASE("list, verify and prune ask the daemon that owns the store", "[daemon][retention]") {
  Watchdog watchdog(180);
  Daemon daemon({"--keep-every", "2", "--max-inflight", "1"});
  daemon.Start();
  watchdog.Guard(daemon.pid());
  SaveSteps(daemon, 1, 9);  // two ring slots: 9 and 8; kept: 2, 4, 6

  // Found through the lock file of --root: the daemon answers.
  CliRun list = RunPccheck({"list", "--root", daemon.root(), "--json"});
  REQUIRE(list.exit_code == 0);
  CHECK(daemon.WaitForLog("store list request", 10'000));
  Steps s = StepsOf(Json(list));
  CHECK(s.ring == std::vector<uint64_t>{9, 8});
  CHECK(s.kept == std::vector<uint64_t>{6, 4, 2});
  CHECK(s.latest == 9);
  CliRun table = RunPccheck({"list", "--socket", daemon.socket()});
  INFO(table.out << table.err);
  CHECK(table.exit_code == 0);
  CHECK(Contains(table.out, "kept"));

  // verify: the latest by default, everything with --all, by the daemon.
  CliRun verify = RunPccheck({"verify", "--root", daemon.root()});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(Contains(verify.out, "OK    keep rank 0 step 9 (latest)"));
  CHECK(Contains(verify.out, "1 of 1 checkpoints verify"));
  CHECK(daemon.WaitForLog("verify request for job keep rank 0 step 9", 10'000));
  CliRun all = RunPccheck({"verify", "--socket", daemon.socket(), "--all", "--json"});
  JsonValue doc = Json(all);
  CHECK(all.exit_code == 0);
  CHECK(doc["ok"].AsBool());
  CHECK(doc["daemon"].AsString() == daemon.socket());
  CHECK(doc["verified"].AsUint() == 5);
  CHECK(doc["damaged"].AsUint(99) == 0);
  CHECK(doc["bytes_verified"].AsUint() > 5 * (2u << 20));
  for (const auto& c : doc["checkpoints"].items()) {
    CAPTURE(c["step"].AsUint());
    CHECK(c["result"].AsString() == "ok");
    CHECK(c["kept"].AsBool() == (c["step"].AsUint() % 2 == 0 && c["step"].AsUint() < 8));
  }

  // prune: the daemon holds the lock, so it is asked to prune.
  CliRun dry = RunPccheck({"prune", "--root", daemon.root(), "--keep", "1", "--dry-run"});
  INFO(dry.out << dry.err);
  CHECK(dry.exit_code == 0);
  CHECK(Contains(dry.out, "would remove kept keep rank 0 step 2"));
  CHECK(Contains(dry.out, "would remove kept keep rank 0 step 4"));
  CHECK(Contains(dry.out, "through pccheckd at " + daemon.socket()));
  CHECK(StepsOf(Json(RunPccheck({"list", "--socket", daemon.socket(), "--json"}))).kept.size() ==
        3);
  CliRun prune = RunPccheck({"prune", "--root", daemon.root(), "--keep", "1", "--json"});
  JsonValue pruned = Json(prune);
  CHECK(prune.exit_code == 0);
  CHECK(pruned["count"].AsUint() == 2);
  CHECK(pruned["removed"].items().size() == 2);
  CHECK(pruned["removed"].items()[0]["step"].AsUint() == 2);
  CHECK(daemon.WaitForLog("pruned kept step 4 of job keep rank 0", 10'000));
  s = StepsOf(Json(RunPccheck({"list", "--root", daemon.root(), "--json"})));
  CHECK(s.kept == std::vector<uint64_t>{6});
  CHECK(s.ring == std::vector<uint64_t>{9, 8});

  // Saving goes on, and restores by step find kept ones.
  auto t = TestTrainer::Open(daemon.socket(), "keep", 0, 2u << 20);
  REQUIRE(t.status().ToString() == "Ok");
  auto restored = (*t)->RestoreAndCheck(6);
  INFO(restored.status().ToString());
  CHECK(restored.ok());
}

TEST_CASE("a killed daemon's lock file leads list, verify and prune to the directory",
          "[daemon][retention]") {
  Watchdog watchdog(120);
  Daemon daemon({"--keep-every", "1", "--max-inflight", "1"});
  daemon.Start();
  watchdog.Guard(daemon.pid());
  SaveSteps(daemon, 1, 4);  // ring: 4, 3; kept: 2, 1
  daemon.Kill();
  REQUIRE(stdfs::exists(daemon.root() + "/.pccheckd.lock"));

  CliRun list = RunPccheck({"list", "--root", daemon.root(), "--json"});
  CHECK(list.exit_code == 0);
  Steps s = StepsOf(Json(list));
  CHECK(s.kept == std::vector<uint64_t>{2, 1});
  CliRun verify = RunPccheck({"verify", "--root", daemon.root(), "--all"});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(Contains(verify.out, "OK    keep rank 0 step 1 (kept)"));
  CliRun prune = RunPccheck({"prune", "--root", daemon.root(), "--keep", "0"});
  INFO(prune.out << prune.err);
  CHECK(prune.exit_code == 0);
  CHECK(Contains(prune.out, "removed 2 kept checkpoints"));
  CHECK(Contains(prune.out, "through " + daemon.root()));
  CHECK(StepsOf(Json(RunPccheck({"list", "--root", daemon.root(), "--json"}))).kept.empty());

  // And the daemon starts again on it.
  daemon.Start();
  watchdog.Guard(daemon.pid());
  CHECK(StepsOf(Json(RunPccheck({"list", "--socket", daemon.socket(), "--json"}))).latest == 4);
}

TEST_CASE("bench --keep-every keeps; list, verify and prune read a store without a daemon",
          "[daemon][retention]") {
  TempDir dir;
  const std::string root = dir.path() + "/store";
  CliRun bench = RunPccheck({"bench", "--root", root, "--size", "1M", "--count", "5", "--inflight",
                             "1", "--chunk", "256K", "--keep-every", "2", "--job", "keep"});
  INFO(bench.out << bench.err);
  REQUIRE(bench.exit_code == 0);
  CHECK_FALSE(stdfs::exists(root + "/.pccheckd.lock"));  // released at exit

  Steps s = StepsOf(Json(RunPccheck({"list", "--root", root, "--json"})));
  CHECK(s.ring == std::vector<uint64_t>{5, 4});
  CHECK(s.kept == std::vector<uint64_t>{2});
  CHECK(s.latest == 5);

  CliRun latest = RunPccheck({"verify", "--root", root});
  INFO(latest.out << latest.err);
  CHECK(latest.exit_code == 0);
  CHECK(Contains(latest.out, "1 of 1 checkpoints verify"));
  CliRun all = RunPccheck({"verify", "--root", root, "--all", "--json"});
  JsonValue doc = Json(all);
  CHECK(all.exit_code == 0);
  CHECK(doc["verified"].AsUint() == 3);
  CHECK(doc["daemon"].AsString().empty());
  CHECK(doc["root"].AsString() == root);

  // A damaged kept checkpoint fails --all, not the default check of latest.
  const std::string kept_data = root + "/keep/rank-0/kept/step-00000000000000000002.data";
  REQUIRE(stdfs::exists(kept_data));
  {
    std::fstream f(kept_data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x5a');
  }
  CliRun damaged = RunPccheck({"verify", "--root", root, "--all"});
  INFO(damaged.out << damaged.err);
  CHECK(damaged.exit_code == 1);
  CHECK(Contains(damaged.out, "FAIL  keep rank 0 step 2 (kept)"));
  CHECK(Contains(damaged.err, "the kept checkpoint keep rank 0 step 2 is damaged"));
  CHECK(RunPccheck({"verify", "--root", root}).exit_code == 0);

  CliRun dry = RunPccheck({"prune", "--root", root, "--keep", "0", "--dry-run", "--json"});
  doc = Json(dry);
  CHECK(dry.exit_code == 0);
  CHECK(doc["dry_run"].AsBool());
  CHECK(doc["count"].AsUint() == 1);
  CHECK(stdfs::exists(kept_data));
  CliRun prune =
      RunPccheck({"prune", "--root", root, "--keep", "0", "--job", "keep", "--rank", "0"});
  INFO(prune.out << prune.err);
  CHECK(prune.exit_code == 0);
  CHECK(Contains(prune.out, "removed kept keep rank 0 step 2, 1 MiB"));
  CHECK_FALSE(stdfs::exists(kept_data));
  s = StepsOf(Json(RunPccheck({"list", "--root", root, "--json"})));
  CHECK(s.kept.empty());
  CHECK(s.ring == std::vector<uint64_t>{5, 4});
}

TEST_CASE("a bench holding the store lock: list notes it, prune and a second bench wait",
          "[daemon][lock]") {
  TempDir dir;
  const std::string root = dir.path() + "/store";
  REQUIRE(RunPccheck({"bench", "--root", root, "--size", "1M", "--count", "1"}).exit_code == 0);
  // Another process holds the lock as a bench does: no socket to ask.
  ChildProcess holder([&](int out) {
    const std::string path = root + "/.pccheckd.lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0) return Fail(out, "cannot lock");
    const std::string content =
        "pid=" + std::to_string(::getpid()) + "\nsocket=\nowner=pccheck bench\n";
    if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
      return Fail(out, "cannot write");
    }
    Report(out, "locked");
    for (;;) ::pause();
  });
  REQUIRE(holder.ReadLine(30'000) == std::optional<std::string>("locked"));
  const std::string who = "pccheck bench (pid " + std::to_string(holder.pid()) + ")";

  CliRun list = RunPccheck({"list", "--root", root, "--json"});
  INFO(list.out << list.err);
  CHECK(list.exit_code == 0);
  CHECK(Contains(list.err, "note: " + who + " is writing"));
  CHECK(Json(list).items().size() == 1);

  CliRun prune = RunPccheck({"prune", "--root", root, "--keep", "0"});
  INFO(prune.out << prune.err);
  CHECK(prune.exit_code == 1);
  CHECK(Contains(prune.err, who));
  CHECK(Contains(prune.err, "takes no requests"));

  CliRun bench = RunPccheck({"bench", "--root", root, "--size", "1M", "--count", "1"});
  INFO(bench.out << bench.err);
  CHECK(bench.exit_code == 1);
  CHECK(Contains(bench.err, who));
}

TEST_CASE("store commands refuse bad arguments with a message and a non-zero exit",
          "[daemon][retention]") {
  TempDir dir;
  const std::string nowhere = dir.path() + "/no-daemon.sock";
  struct Case {
    std::vector<std::string> args;
    std::string said;  // in stderr
  };
  const std::vector<Case> cases = {
      {{"prune", "--root", dir.path()}, "--keep"},
      {{"prune", "--keep", "1"}, "--root DIR"},
      {{"list"}, "--root DIR"},
      {{"verify", "--json"}, "--socket PATH"},
      {{"prune", "--root", dir.path(), "--socket", nowhere, "--keep", "1"}, "excludes"},
      {{"list", "--root", dir.path() + "/missing"}, "no checkpoint store"},
      {{"prune", "--root", dir.path() + "/missing", "--keep", "1"}, "no checkpoint store"},
      {{"prune", "--root", dir.path(), "--keep", "-1"}, "--keep"},
      {{"prune", "--root", dir.path(), "--keep", "1", "--job", "a/b"}, "job name 'a/b'"},
      {{"prune", "--root", dir.path(), "--keep", "1", "--job", "none"},
       "no checkpoints of job none"},
      {{"verify", "--socket", nowhere}, nowhere},
      {{"prune", "--socket", nowhere, "--keep", "1"}, "is pccheckd running?"},
  };
  for (const Case& c : cases) {
    CliRun run = RunPccheck(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    INFO(joined << "\nstdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.exit_code != 0);
    CHECK(Contains(run.err, c.said));
  }
  // Nothing was created where nothing was.
  CHECK_FALSE(stdfs::exists(dir.path() + "/missing"));
  CHECK_FALSE(stdfs::exists(dir.path() + "/.pccheckd.lock"));
}

}  // namespace
}  // namespace pccheck::testing
