// Power loss at every sync point while a checkpoint is moved to kept/ (and a
// newer one written into its slot), and while kept checkpoints are pruned:
// after recovery the kept checkpoint is never lost, `latest` is never torn,
// nothing listed fails to verify, and no file is left without its partner.
#include <filesystem>
#include <functional>
#include <set>
#include <utility>

#include "catch.h"
#include "engine_fixture.h"
#include "support/fault_file_system.h"

namespace pccheck::testing {
namespace {

namespace stdfs = std::filesystem;

EngineOptions Options(const std::string& root) {
  EngineOptions o = SmallOptions(root, 1);  // two ring slots
  o.keep_every = 2;
  return o;
}

Status SaveAndWait(Engine& engine, const TensorSet& set, uint64_t step) {
  auto h = engine.Save(MakeRequest(set, step));
  if (!h.ok()) return h.status();
  return (*h)->Wait();
}

// Every file in kept/ has its partner (.data with .manifest), and no .tmp.
void CheckKeptDirComplete(const std::string& root) {
  const std::string kept = root + "/job/rank-0/kept";
  if (!stdfs::exists(kept)) return;
  std::set<std::string> names;
  for (const auto& e : stdfs::directory_iterator(kept)) names.insert(e.path().filename());
  for (const auto& n : names) {
    INFO(n);
    CHECK(n.find(".tmp") == std::string::npos);
    const std::string stem = n.substr(0, n.rfind('.'));
    CHECK(names.count(stem + ".data") == 1);
    CHECK(names.count(stem + ".manifest") == 1);
  }
}

// Everything listed is committed and verifies; returns the listed steps.
std::set<uint64_t> CheckEverythingVerifies(Engine& engine) {
  std::set<uint64_t> steps;
  for (const auto& c : engine.List()) {
    INFO("step " << c.step << (c.kept ? " kept: " : ": ") << c.state);
    CHECK(c.state == "committed");
    CHECK(engine.Verify("job", 0, c.step).ok());
    steps.insert(c.step);
  }
  return steps;
}

struct Sets {
  std::map<uint64_t, TensorSet> by_step;
  Sets() {
    for (uint64_t s = 1; s <= 6; ++s) by_step[s] = TensorSet::Make({70'000, 3, 150'000}, s);
  }
  const TensorSet& operator[](uint64_t s) const { return by_step.at(s); }
};

// One crash run: on a fresh store at root, through ffs, with power failing
// at sync point crash_at (0: never). Returns whether its last operation
// succeeded, and the sync points that operation passed.
using CrashRun = std::function<std::pair<bool, int>(FaultFileSystem&, const std::string&, int)>;

// Opens an engine on ffs, commits steps 1..committed, then runs `op` with
// power failing at sync point `crash_at` and shuts the engine down.
std::pair<bool, int> RunCrashing(FaultFileSystem& ffs, const std::string& root, const Sets& sets,
                                 uint64_t committed, int crash_at,
                                 const std::function<bool(Engine&)>& op) {
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(Options(root), &ffs, gpu.get());
  REQUIRE(engine.ok());
  for (uint64_t s = 1; s <= committed; ++s) REQUIRE(SaveAndWait(**engine, sets[s], s).ok());
  const int before = ffs.sync_points();
  ffs.CrashAtSyncPoint(crash_at);
  const bool ok = op(**engine);
  (*engine)->Shutdown();
  return {ok, ffs.sync_points() - before};
}

// `run` on a fresh store without a crash.
std::pair<bool, int> RunWithoutCrash(FileSystem* posix, const CrashRun& run) {
  TempDir dir;
  FaultFileSystem ffs(posix, dir.path());
  return run(ffs, dir.path(), 0);
}

// For each sync point k of `points` (and one past the last): `run` on a fresh
// store with power failing at k, the power loss, then `check` on an engine
// recovered from what the disk kept, with whether the run's last operation
// was acknowledged.
void AtEverySyncPoint(FileSystem* posix, const CrashRun& run, int points,
                      const std::function<void(Engine&, const std::string&, bool)>& check) {
  for (int k = 1; k <= points + 1; ++k) {
    CAPTURE(k, points);
    TempDir dir;
    FaultFileSystem ffs(posix, dir.path());
    const bool acked = run(ffs, dir.path(), k).first;
    REQUIRE(ffs.PowerLoss().ok());

    auto gpu = NewFakeGpu();
    auto engine = Engine::Open(Options(dir.path()), posix, gpu.get());
    REQUIRE(engine.ok());
    check(**engine, dir.path(), acked);
  }
}

// Commits 1, 2, 3 (ring: 2 and 3), then saves 4: 4 takes step 2's slot, so
// step 2 moves to kept/ first. Acknowledged: whether 4 was.
CrashRun KeepRun(const Sets& sets) {
  return [&sets](FaultFileSystem& ffs, const std::string& root, int crash_at) {
    return RunCrashing(ffs, root, sets, 3, crash_at,
                       [&sets](Engine& e) { return SaveAndWait(e, sets[4], 4).ok(); });
  };
}

TEST_CASE("power loss at every sync point of a save that keeps a checkpoint", "[retention]") {
  Sets sets;
  auto posix = NewPosixFileSystem();
  auto [acked, points] = RunWithoutCrash(posix.get(), KeepRun(sets));
  REQUIRE(acked);
  REQUIRE(points > 8);  // the move's 6 and the commit's
  const auto check = [&sets](Engine& engine, const std::string& root, bool acked) {
    auto latest = engine.LatestStep("job", 0);
    REQUIRE(latest.has_value());
    CAPTURE(*latest, acked);
    CHECK(*latest >= (acked ? 4u : 3u));
    CheckRestore(engine, sets[*latest], std::nullopt, *latest);
    // Step 2 was committed before the crash: in its slot or in kept/, never lost.
    CheckRestore(engine, sets[2], 2, 2);
    const std::set<uint64_t> steps = CheckEverythingVerifies(engine);
    CHECK(steps.count(2) == 1);
    CheckKeptDirComplete(root);

    // The store goes on: the next saves commit and step 2 ends up kept.
    for (uint64_t s = 5; s <= 6; ++s) REQUIRE(SaveAndWait(engine, sets[s], s).ok());
    bool kept_2 = false;
    for (const auto& c : engine.List()) kept_2 = kept_2 || (c.kept && c.step == 2);
    CHECK(kept_2);
    CheckRestore(engine, sets[2], 2, 2);
    CheckKeptDirComplete(root);
  };
  AtEverySyncPoint(posix.get(), KeepRun(sets), points, check);
}

// Commits 1..6 with keep_every 2 (kept: 2 and 4), then prunes them all.
CrashRun PruneRun(const Sets& sets) {
  return [&sets](FaultFileSystem& ffs, const std::string& root, int crash_at) {
    return RunCrashing(ffs, root, sets, 6, crash_at, [](Engine& e) {
      return e.Prune({0, std::nullopt, std::nullopt, false}).ok();
    });
  };
}

TEST_CASE("power loss at every sync point of a prune", "[retention]") {
  Sets sets;
  auto posix = NewPosixFileSystem();
  const int points = RunWithoutCrash(posix.get(), PruneRun(sets)).second;
  REQUIRE(points >= 2);
  const auto check = [&sets](Engine& engine, const std::string& root, bool /*acked*/) {
    // The ring and latest are untouched; each kept one is whole or gone.
    CHECK(engine.LatestStep("job", 0) == std::optional<uint64_t>(6));
    const std::set<uint64_t> steps = CheckEverythingVerifies(engine);
    CHECK(steps.count(5) == 1);
    CHECK(steps.count(6) == 1);
    for (uint64_t s : {2, 4}) {
      if (steps.count(s)) CheckRestore(engine, sets[s], s, s);
    }
    CheckKeptDirComplete(root);
  };
  AtEverySyncPoint(posix.get(), PruneRun(sets), points, check);
}

}  // namespace
}  // namespace pccheck::testing
