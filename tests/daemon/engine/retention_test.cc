// Retention (keep_every) and pruning in the engine: kept checkpoints sit
// beside the ring, are listed, restored and verified by step, survive
// recovery, and only Prune removes them. Readers that race a writer report a
// checkpoint replaced or pruned under them as superseded, never as damage.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "catch.h"
#include "engine_fixture.h"
#include "support/fault_file_system.h"

namespace pccheck::testing {
namespace {

namespace stdfs = std::filesystem;

using StepSets = std::map<uint64_t, TensorSet>;

StepSets Sets(uint64_t first, uint64_t last) {
  StepSets sets;
  for (uint64_t s = first; s <= last; ++s) sets[s] = TensorSet::Make({70'000, 3, 100'000}, s);
  return sets;
}

// Saves steps first..last of `sets`, one after the other.
void SaveSteps(Engine& engine, const StepSets& sets, uint64_t first, uint64_t last) {
  for (uint64_t step = first; step <= last; ++step) {
    auto h = engine.Save(MakeRequest(sets.at(step), step));
    INFO("step " << step << ": " << h.status().ToString());
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ToString() == "Ok");
  }
}

// Saves each step of `sets` with its own tensors, one after the other.
void SaveSteps(Engine& engine, const StepSets& sets) {
  if (!sets.empty()) SaveSteps(engine, sets, sets.begin()->first, sets.rbegin()->first);
}

// Steps listed as kept, and as ring slots, each in the list's order.
struct Listed {
  std::vector<uint64_t> kept, ring;
  std::optional<uint64_t> latest;
};

Listed ListOf(Engine& engine) {
  Listed l;
  for (const auto& c : engine.List()) {
    INFO("step " << c.step << " " << c.state);
    CHECK(c.state == "committed");
    (c.kept ? l.kept : l.ring).push_back(c.step);
    if (c.latest) {
      CHECK_FALSE(c.kept);
      l.latest = c.step;
    }
  }
  return l;
}

// A store in a temporary directory on the real file system, with the fake
// GPU; engines opened on it must go before it.
struct Store {
  TempDir dir;
  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  std::unique_ptr<Gpu> gpu = NewFakeGpu();

  const std::string& root() const { return dir.path(); }
  std::string RankDir() const { return root() + "/job/rank-0"; }
  std::string KeptFile(uint64_t step, const char* suffix) const {
    char name[64];
    std::snprintf(name, sizeof name, "/kept/step-%020llu%s", static_cast<unsigned long long>(step),
                  suffix);
    return RankDir() + name;
  }

  // Small engine options that keep every keep_every-th step (0: none).
  EngineOptions Keep(uint64_t keep_every, int max_inflight = 1) const {
    EngineOptions o = SmallOptions(root(), max_inflight);
    o.keep_every = keep_every;
    return o;
  }
  // Through `through` (default: fs); REQUIREs that the engine opens.
  std::unique_ptr<Engine> Open(const EngineOptions& options, FileSystem* through = nullptr) {
    auto engine = Engine::Open(options, through != nullptr ? through : fs.get(), gpu.get());
    REQUIRE(engine.ok());
    return std::move(engine).value();
  }
  std::unique_ptr<Engine> Open(uint64_t keep_every, int max_inflight = 1) {
    return Open(Keep(keep_every, max_inflight));
  }
  // Read-only, as `pccheck list` and `verify` open a store a daemon writes.
  std::unique_ptr<Engine> OpenReader(uint64_t keep_every) {
    EngineOptions ro = Keep(keep_every);
    ro.read_only = true;
    return Open(ro);
  }
  // Saves `sets` through an engine of its own, closed again.
  void Fill(uint64_t keep_every, const StepSets& sets) {
    auto engine = Open(keep_every);
    SaveSteps(*engine, sets);
  }
};

TEST_CASE("retention keeps every K-th step beside the ring", "[retention]") {
  Store store;
  auto sets = Sets(1, 7);
  auto engine = store.Open(2);
  SaveSteps(*engine, sets);

  // Two ring slots hold 6 and 7; 2 and 4 were kept as their slots were
  // reused; 6 is still in the ring (kept when its slot is next reused).
  Listed l = ListOf(*engine);
  CHECK(l.ring == std::vector<uint64_t>{7, 6});
  CHECK(l.kept == std::vector<uint64_t>{4, 2});
  CHECK(l.latest == std::optional<uint64_t>(7));
  for (uint64_t step : {2, 4}) {
    CHECK(stdfs::exists(store.KeptFile(step, ".data")));
    CHECK(stdfs::exists(store.KeptFile(step, ".manifest")));
  }
  CHECK_FALSE(stdfs::exists(store.KeptFile(6, ".data")));
  CHECK_FALSE(stdfs::exists(store.KeptFile(3, ".data")));

  // Restore and verify by step find kept ones; latest is unchanged.
  for (uint64_t step : {2, 4, 6, 7}) {
    CAPTURE(step);
    CheckRestore(*engine, sets.at(step), step, step);
    CHECK(engine->Verify("job", 0, step).ok());
  }
  CheckRestore(*engine, sets.at(7), std::nullopt, 7);
  auto gone = engine->Verify("job", 0, 3);
  CHECK(gone.code() == Code::kNotFound);
  CHECK(gone.message().find("committed and kept steps: 7, 6, 4, 2") != std::string::npos);

  // A step older than latest is still refused: newest wins, kept or not.
  auto old = engine->Save(MakeRequest(sets.at(2), 2));
  CHECK(old.status().code() == Code::kInvalidArgument);
}

TEST_CASE("kept checkpoints survive reopening, without retention too", "[retention]") {
  Store store;
  auto sets = Sets(1, 5);
  store.Fill(2, sets);
  // keep_every 0 now: nothing new is kept, nothing kept is removed.
  auto engine = store.Open(0);
  CHECK(ListOf(*engine).kept == std::vector<uint64_t>{2});
  auto more = Sets(6, 9);
  SaveSteps(*engine, more);
  Listed l = ListOf(*engine);
  CHECK(l.kept == std::vector<uint64_t>{2});
  CHECK(l.ring == std::vector<uint64_t>{9, 8});
  CheckRestore(*engine, sets.at(2), 2, 2);
}

TEST_CASE("keep_every 1 keeps every step that leaves the ring", "[retention]") {
  Store store;
  auto engine = store.Open(1, 2);
  auto sets = Sets(1, 6);
  SaveSteps(*engine, sets);
  // keep_every 1 keeps every step that leaves the ring of 3 slots.
  Listed l = ListOf(*engine);
  CHECK(l.ring == std::vector<uint64_t>{6, 5, 4});
  CHECK(l.kept == std::vector<uint64_t>{3, 2, 1});
  for (uint64_t step = 1; step <= 6; ++step) CHECK(engine->Verify("job", 0, step).ok());
}

TEST_CASE("a move to kept/ that fails leaves the checkpoint served and is retried", "[retention]") {
  Store store;
  FaultFileSystem ffs(store.fs.get(), store.root());
  auto sets = Sets(1, 4);
  auto engine = store.Open(store.Keep(2), &ffs);
  SaveSteps(*engine, sets, 1, 3);

  // Step 2's data reaches kept/, its manifest does not.
  ffs.FailNth(FaultFileSystem::Op::kRename, 1, FaultFileSystem::Fault::kEio,
              "kept/step-00000000000000000002.manifest");
  auto failed = engine->Save(MakeRequest(sets.at(4), 4));
  INFO(failed.status().ToString());
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == Code::kIoError);
  CHECK(failed.status().message().find("keeping step 2 of job job rank 0") != std::string::npos);
  CHECK(stdfs::exists(store.KeptFile(2, ".data")));
  Listed l = ListOf(*engine);
  CHECK(l.ring == std::vector<uint64_t>{3, 2});  // still served from where it is
  CHECK(l.kept.empty());
  CHECK(engine->Verify("job", 0, 2).ToString() == "Ok");
  CheckRestore(*engine, sets.at(2), 2, 2);

  // The next save finishes the move.
  SaveSteps(*engine, sets, 4, 4);
  l = ListOf(*engine);
  CHECK(l.kept == std::vector<uint64_t>{2});
  CHECK(l.ring == std::vector<uint64_t>{4, 3});
  CheckRestore(*engine, sets.at(2), 2, 2);
  CHECK(stdfs::exists(store.KeptFile(2, ".manifest")));
}

TEST_CASE("restore without a step falls back to kept checkpoints", "[retention]") {
  Store store;
  auto sets = Sets(1, 4);
  EngineOptions options = store.Keep(2);
  options.keep_resident = false;  // restores must read the damaged disk
  auto engine = store.Open(options);
  SaveSteps(*engine, sets);
  REQUIRE(ListOf(*engine).kept == std::vector<uint64_t>{2});
  // Damage both ring slots (steps 3 and 4).
  for (uint64_t step : {3, 4}) FlipByte(SlotFile(*engine, store.root(), step, ".data"), 10);
  auto out = sets.at(2).EmptyLike();
  auto r = engine->Restore("job", 0, std::nullopt, out.Dests());
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->step == 2);
  CHECK(r->skipped.size() == 2);
  CHECK(out.data == sets.at(2).data);
}

TEST_CASE("prune removes kept checkpoints beyond the newest N, nothing else", "[retention]") {
  Store store;
  auto sets = Sets(1, 9);
  auto engine = store.Open(2);
  SaveSteps(*engine, sets);
  REQUIRE(ListOf(*engine).kept == std::vector<uint64_t>{6, 4, 2});

  auto dry = engine->Prune({1, std::nullopt, std::nullopt, /*dry_run=*/true});
  REQUIRE(dry.ok());
  REQUIRE(dry->size() == 2);
  CHECK((*dry)[0].step == 2);
  CHECK((*dry)[1].step == 4);
  CHECK((*dry)[0].bytes == 170'003);
  CHECK(ListOf(*engine).kept == std::vector<uint64_t>{6, 4, 2});
  CHECK(stdfs::exists(store.KeptFile(2, ".data")));

  auto pruned = engine->Prune({1, "job", 0, false});
  REQUIRE(pruned.ok());
  REQUIRE(pruned->size() == 2);
  CHECK((*pruned)[0].job == "job");
  Listed l = ListOf(*engine);
  CHECK(l.kept == std::vector<uint64_t>{6});
  CHECK(l.ring == std::vector<uint64_t>{9, 8});
  for (uint64_t step : {2, 4}) {
    CHECK_FALSE(stdfs::exists(store.KeptFile(step, ".data")));
    CHECK_FALSE(stdfs::exists(store.KeptFile(step, ".manifest")));
    CHECK(engine->Verify("job", 0, step).code() == Code::kNotFound);
  }
  // keep 0 removes every kept one, still never a ring slot or latest.
  pruned = engine->Prune({0, std::nullopt, std::nullopt, false});
  REQUIRE(pruned.ok());
  CHECK(pruned->size() == 1);
  l = ListOf(*engine);
  CHECK(l.kept.empty());
  CHECK(l.ring == std::vector<uint64_t>{9, 8});
  CheckRestore(*engine, sets.at(9), std::nullopt, 9);

  // Unknown job, bad job name: named errors, nothing removed.
  auto unknown = engine->Prune({0, "nope", std::nullopt, false});
  CHECK(unknown.status().code() == Code::kNotFound);
  CHECK(unknown.status().message().find("job nope") != std::string::npos);
  CHECK(engine->Prune({0, "../x", std::nullopt, false}).status().code() == Code::kInvalidArgument);
}

TEST_CASE("prune on a read-only engine is refused", "[retention]") {
  Store store;
  store.Fill(1, Sets(1, 3));
  auto engine = store.OpenReader(1);
  auto pruned = engine->Prune({0, std::nullopt, std::nullopt, false});
  CHECK(pruned.status().code() == Code::kInvalidArgument);
  CHECK(ListOf(*engine).kept == std::vector<uint64_t>{1});
}

TEST_CASE("a reader racing a slot's reuse reports superseded, not damage", "[retention]") {
  Store store;
  auto sets = Sets(1, 3);
  auto writer = store.Open(0);
  SaveSteps(*writer, sets, 1, 2);
  auto reader = store.OpenReader(0);  // lists 1 and 2
  SaveSteps(*writer, sets, 3, 3);     // reuses step 1's slot

  Status s = reader->Verify("job", 0, 1);
  INFO(s.ToString());
  CHECK(s.code() == Code::kAborted);
  CHECK(s.message().find("superseded while verifying") != std::string::npos);
  CHECK(reader->Verify("job", 0, 2).ok());

  // Real damage under an unchanged manifest is still damage.
  FlipByte(SlotFile(*reader, store.root(), 2, ".data"), 5);
  CHECK(reader->Verify("job", 0, 2).code() == Code::kCorruption);
}

TEST_CASE("a reader racing a move to kept/ reads the kept copy", "[retention]") {
  Store store;
  auto sets = Sets(1, 3);
  auto writer = store.Open(1);
  SaveSteps(*writer, sets, 1, 2);
  auto reader = store.OpenReader(1);  // sees step 1 in its ring slot
  SaveSteps(*writer, sets, 3, 3);     // moves step 1 to kept/
  REQUIRE(stdfs::exists(store.KeptFile(1, ".data")));

  CHECK(reader->Verify("job", 0, 1).ToString() == "Ok");
  CheckRestore(*reader, sets.at(1), 1, 1);
}

TEST_CASE("a reader racing prune reports pruned, not damage", "[retention]") {
  Store store;
  auto writer = store.Open(1);
  SaveSteps(*writer, Sets(1, 3));
  auto reader = store.OpenReader(1);
  REQUIRE(ListOf(*reader).kept == std::vector<uint64_t>{1});
  REQUIRE(writer->Prune({0, std::nullopt, std::nullopt, false}).ok());

  Status s = reader->Verify("job", 0, 1);
  INFO(s.ToString());
  CHECK(s.code() == Code::kAborted);
  CHECK(s.message().find("pruned while verifying") != std::string::npos);
}

TEST_CASE("recovery finishes a move whose manifest had not followed its data", "[retention]") {
  Store store;
  auto sets = Sets(1, 3);
  std::string ring;
  {
    auto engine = store.Open(0);
    SaveSteps(*engine, sets);  // 2 slots: 2 and 3; step 1 is gone
    ring = SlotFile(*engine, store.root(), 2, "");
  }
  // The state between the two renames (retention.cc): step 2's data in
  // kept/, its manifest still in the ring.
  stdfs::create_directories(store.RankDir() + "/kept");
  stdfs::rename(ring + ".data", store.KeptFile(2, ".data"));

  auto engine = store.Open(2);
  Listed l = ListOf(*engine);
  CHECK(l.kept == std::vector<uint64_t>{2});
  CHECK(l.ring == std::vector<uint64_t>{3});
  CHECK(stdfs::exists(store.KeptFile(2, ".manifest")));
  CHECK_FALSE(stdfs::exists(ring + ".manifest"));
  CheckRestore(*engine, sets.at(2), 2, 2);
}

TEST_CASE("recovery removes kept data that no manifest describes", "[retention]") {
  Store store;
  {
    auto engine = store.Open(1);
    SaveSteps(*engine, Sets(1, 4));
    REQUIRE(ListOf(*engine).kept == std::vector<uint64_t>{2, 1});
  }
  // What a prune interrupted between its two syncs leaves: step 1's
  // manifest gone, its data still there. And a .tmp from a torn write.
  stdfs::remove(store.KeptFile(1, ".manifest"));
  { std::ofstream(store.RankDir() + "/kept/junk.tmp") << "x"; }

  {
    auto reader = store.OpenReader(1);  // changes nothing
    CHECK(ListOf(*reader).kept == std::vector<uint64_t>{2});
    CHECK(stdfs::exists(store.KeptFile(1, ".data")));
  }
  auto engine = store.Open(1);
  CHECK(ListOf(*engine).kept == std::vector<uint64_t>{2});
  CHECK_FALSE(stdfs::exists(store.KeptFile(1, ".data")));
  CHECK_FALSE(stdfs::exists(store.RankDir() + "/kept/junk.tmp"));
  CHECK(stdfs::exists(store.KeptFile(2, ".data")));
}

TEST_CASE("a damaged kept checkpoint is listed as damaged and never served", "[retention]") {
  Store store;
  store.Fill(1, Sets(1, 4));
  FlipByte(store.KeptFile(1, ".manifest"), 30);
  FlipByte(store.KeptFile(2, ".data"), 30);
  auto engine = store.Open(1);
  bool damaged_1 = false;
  for (const auto& c : engine->List()) {
    if (c.kept && c.step == 1) damaged_1 = c.state.rfind("damaged", 0) == 0;
  }
  CHECK(damaged_1);
  CHECK(stdfs::exists(store.KeptFile(1, ".data")));  // recovery leaves it to prune
  CHECK(engine->Verify("job", 0, 2).code() == Code::kCorruption);
  CHECK(engine->Verify("job", 0, 1).code() == Code::kNotFound);
  // Prune counts it by its step like any other.
  auto pruned = engine->Prune({0, std::nullopt, std::nullopt, false});
  REQUIRE(pruned.ok());
  CHECK(pruned->size() == 2);
  CHECK_FALSE(stdfs::exists(store.KeptFile(1, ".data")));
}

}  // namespace
}  // namespace pccheck::testing
