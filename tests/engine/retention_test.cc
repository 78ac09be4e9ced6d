// Retention (keep_every) and pruning in the engine: kept checkpoints sit
// beside the ring, are listed, restored and verified by step, survive
// recovery, and only Prune removes them. Readers that race a writer report a
// checkpoint replaced or pruned under them as superseded, never as damage.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "catch.h"
#include "engine_fixture.h"
#include "io/fault_file_system.h"

namespace pccheck::testing {
namespace {

namespace stdfs = std::filesystem;

std::string RankDir(const TempDir& dir) { return dir.path() + "/job/rank-0"; }

std::string KeptFile(const TempDir& dir, uint64_t step, const char* suffix) {
  char name[64];
  std::snprintf(name, sizeof name, "/kept/step-%020llu%s", static_cast<unsigned long long>(step),
                suffix);
  return RankDir(dir) + name;
}

EngineOptions KeepOptions(const std::string& root, uint64_t keep_every, int max_inflight = 1) {
  EngineOptions o = SmallOptions(root, max_inflight);
  o.keep_every = keep_every;
  return o;
}

// Saves each step with its own tensors, one after the other.
void SaveSteps(Engine& engine, const std::map<uint64_t, TensorSet>& sets) {
  for (const auto& [step, set] : sets) {
    auto h = engine.Save(MakeRequest(set, step));
    INFO("step " << step << ": " << h.status().ToString());
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ToString() == "Ok");
  }
}

std::map<uint64_t, TensorSet> Sets(uint64_t first, uint64_t last) {
  std::map<uint64_t, TensorSet> sets;
  for (uint64_t s = first; s <= last; ++s) sets[s] = TensorSet::Make({70'000, 3, 100'000}, s);
  return sets;
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

void FlipByte(const std::string& path, off_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  unsigned char c = 0;
  REQUIRE(::pread(fd, &c, 1, offset) == 1);
  c ^= 0x40;
  REQUIRE(::pwrite(fd, &c, 1, offset) == 1);
  ::close(fd);
}

TEST_CASE("retention keeps every K-th step beside the ring", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 7);
  auto engine = Engine::Open(KeepOptions(dir.path(), 2), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  SaveSteps(**engine, sets);

  // Two ring slots hold 6 and 7; 2 and 4 were kept as their slots were
  // reused; 6 is still in the ring (kept when its slot is next reused).
  Listed l = ListOf(**engine);
  CHECK(l.ring == std::vector<uint64_t>{7, 6});
  CHECK(l.kept == std::vector<uint64_t>{4, 2});
  CHECK(l.latest == std::optional<uint64_t>(7));
  for (uint64_t step : {2, 4}) {
    CHECK(stdfs::exists(KeptFile(dir, step, ".data")));
    CHECK(stdfs::exists(KeptFile(dir, step, ".manifest")));
  }
  CHECK_FALSE(stdfs::exists(KeptFile(dir, 6, ".data")));
  CHECK_FALSE(stdfs::exists(KeptFile(dir, 3, ".data")));

  // Restore and verify by step find kept ones; latest is unchanged.
  for (uint64_t step : {2, 4, 6, 7}) {
    CAPTURE(step);
    CheckRestore(**engine, sets.at(step), step, step);
    CHECK((*engine)->Verify("job", 0, step).ok());
  }
  CheckRestore(**engine, sets.at(7), std::nullopt, 7);
  auto gone = (*engine)->Verify("job", 0, 3);
  CHECK(gone.code() == Code::kNotFound);
  CHECK(gone.message().find("committed and kept steps: 7, 6, 4, 2") != std::string::npos);

  // A step older than latest is still refused: newest wins, kept or not.
  auto old = (*engine)->Save(MakeRequest(sets.at(2), 2));
  CHECK(old.status().code() == Code::kInvalidArgument);
}

TEST_CASE("kept checkpoints survive reopening, without retention too", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 5);
  {
    auto engine = Engine::Open(KeepOptions(dir.path(), 2), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    SaveSteps(**engine, sets);
  }
  // keep_every 0 now: nothing new is kept, nothing kept is removed.
  auto engine = Engine::Open(KeepOptions(dir.path(), 0), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  CHECK(ListOf(**engine).kept == std::vector<uint64_t>{2});
  auto more = Sets(6, 9);
  SaveSteps(**engine, more);
  Listed l = ListOf(**engine);
  CHECK(l.kept == std::vector<uint64_t>{2});
  CHECK(l.ring == std::vector<uint64_t>{9, 8});
  CheckRestore(**engine, sets.at(2), 2, 2);
}

TEST_CASE("keep_every 1 keeps every step that leaves the ring", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(KeepOptions(dir.path(), 1, 2), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto sets = Sets(1, 6);
  SaveSteps(**engine, sets);
  // keep_every 1 keeps every step that leaves the ring of 3 slots.
  Listed l = ListOf(**engine);
  CHECK(l.ring == std::vector<uint64_t>{6, 5, 4});
  CHECK(l.kept == std::vector<uint64_t>{3, 2, 1});
  for (uint64_t step = 1; step <= 6; ++step) CHECK((*engine)->Verify("job", 0, step).ok());
}

TEST_CASE("a move to kept/ that fails leaves the checkpoint served and is retried", "[retention]") {
  TempDir dir;
  auto posix = NewPosixFileSystem();
  FaultFileSystem ffs(posix.get(), dir.path());
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 4);
  auto engine = Engine::Open(KeepOptions(dir.path(), 2), &ffs, gpu.get());
  REQUIRE(engine.ok());
  SaveSteps(**engine, {{1, sets.at(1)}, {2, sets.at(2)}, {3, sets.at(3)}});

  // Step 2's data reaches kept/, its manifest does not.
  ffs.FailNth(FaultFileSystem::Op::kRename, 1, FaultFileSystem::Fault::kEio,
              "kept/step-00000000000000000002.manifest");
  auto failed = (*engine)->Save(MakeRequest(sets.at(4), 4));
  INFO(failed.status().ToString());
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == Code::kIoError);
  CHECK(failed.status().message().find("keeping step 2 of job job rank 0") != std::string::npos);
  CHECK(stdfs::exists(KeptFile(dir, 2, ".data")));
  Listed l = ListOf(**engine);
  CHECK(l.ring == std::vector<uint64_t>{3, 2});  // still served from where it is
  CHECK(l.kept.empty());
  CHECK((*engine)->Verify("job", 0, 2).ToString() == "Ok");
  CheckRestore(**engine, sets.at(2), 2, 2);

  // The next save finishes the move.
  SaveSteps(**engine, {{4, sets.at(4)}});
  l = ListOf(**engine);
  CHECK(l.kept == std::vector<uint64_t>{2});
  CHECK(l.ring == std::vector<uint64_t>{4, 3});
  CheckRestore(**engine, sets.at(2), 2, 2);
  CHECK(stdfs::exists(KeptFile(dir, 2, ".manifest")));
}

TEST_CASE("restore without a step falls back to kept checkpoints", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 4);
  EngineOptions options = KeepOptions(dir.path(), 2);
  options.keep_resident = false;  // restores must read the damaged disk
  auto engine = Engine::Open(options, fs.get(), gpu.get());
  REQUIRE(engine.ok());
  SaveSteps(**engine, sets);
  REQUIRE(ListOf(**engine).kept == std::vector<uint64_t>{2});
  // Damage both ring slots (steps 3 and 4).
  for (const auto& c : (*engine)->List()) {
    if (!c.kept) FlipByte(RankDir(dir) + "/slot-" + std::to_string(c.slot) + ".data", 10);
  }
  auto out = sets.at(2).EmptyLike();
  auto r = (*engine)->Restore("job", 0, std::nullopt, out.Dests());
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->step == 2);
  CHECK(r->skipped.size() == 2);
  CHECK(out.data == sets.at(2).data);
}

TEST_CASE("prune removes kept checkpoints beyond the newest N, nothing else", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 9);
  auto engine = Engine::Open(KeepOptions(dir.path(), 2), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  SaveSteps(**engine, sets);
  REQUIRE(ListOf(**engine).kept == std::vector<uint64_t>{6, 4, 2});

  auto dry = (*engine)->Prune({1, std::nullopt, std::nullopt, /*dry_run=*/true});
  REQUIRE(dry.ok());
  REQUIRE(dry->size() == 2);
  CHECK((*dry)[0].step == 2);
  CHECK((*dry)[1].step == 4);
  CHECK((*dry)[0].bytes == 170'003);
  CHECK(ListOf(**engine).kept == std::vector<uint64_t>{6, 4, 2});
  CHECK(stdfs::exists(KeptFile(dir, 2, ".data")));

  auto pruned = (*engine)->Prune({1, "job", 0, false});
  REQUIRE(pruned.ok());
  REQUIRE(pruned->size() == 2);
  CHECK((*pruned)[0].job == "job");
  Listed l = ListOf(**engine);
  CHECK(l.kept == std::vector<uint64_t>{6});
  CHECK(l.ring == std::vector<uint64_t>{9, 8});
  for (uint64_t step : {2, 4}) {
    CHECK_FALSE(stdfs::exists(KeptFile(dir, step, ".data")));
    CHECK_FALSE(stdfs::exists(KeptFile(dir, step, ".manifest")));
    CHECK((*engine)->Verify("job", 0, step).code() == Code::kNotFound);
  }
  // keep 0 removes every kept one, still never a ring slot or latest.
  pruned = (*engine)->Prune({0, std::nullopt, std::nullopt, false});
  REQUIRE(pruned.ok());
  CHECK(pruned->size() == 1);
  l = ListOf(**engine);
  CHECK(l.kept.empty());
  CHECK(l.ring == std::vector<uint64_t>{9, 8});
  CheckRestore(**engine, sets.at(9), std::nullopt, 9);

  // Unknown job, bad job name: named errors, nothing removed.
  auto unknown = (*engine)->Prune({0, "nope", std::nullopt, false});
  CHECK(unknown.status().code() == Code::kNotFound);
  CHECK(unknown.status().message().find("job nope") != std::string::npos);
  CHECK((*engine)->Prune({0, "../x", std::nullopt, false}).status().code() ==
        Code::kInvalidArgument);
}

TEST_CASE("prune on a read-only engine is refused", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  {
    auto engine = Engine::Open(KeepOptions(dir.path(), 1), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    SaveSteps(**engine, Sets(1, 3));
  }
  EngineOptions ro = KeepOptions(dir.path(), 1);
  ro.read_only = true;
  auto engine = Engine::Open(ro, fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto pruned = (*engine)->Prune({0, std::nullopt, std::nullopt, false});
  CHECK(pruned.status().code() == Code::kInvalidArgument);
  CHECK(ListOf(**engine).kept == std::vector<uint64_t>{1});
}

TEST_CASE("a reader racing a slot's reuse reports superseded, not damage", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 3);
  auto writer = Engine::Open(KeepOptions(dir.path(), 0), fs.get(), gpu.get());
  REQUIRE(writer.ok());
  SaveSteps(**writer, {{1, sets.at(1)}, {2, sets.at(2)}});
  EngineOptions ro = KeepOptions(dir.path(), 0);
  ro.read_only = true;
  auto reader = Engine::Open(ro, fs.get(), gpu.get());  // lists 1 and 2
  REQUIRE(reader.ok());
  SaveSteps(**writer, {{3, sets.at(3)}});  // reuses step 1's slot

  Status s = (*reader)->Verify("job", 0, 1);
  INFO(s.ToString());
  CHECK(s.code() == Code::kAborted);
  CHECK(s.message().find("superseded while verifying") != std::string::npos);
  CHECK((*reader)->Verify("job", 0, 2).ok());

  // Real damage under an unchanged manifest is still damage.
  for (const auto& c : (*reader)->List()) {
    if (c.step == 2) FlipByte(RankDir(dir) + "/slot-" + std::to_string(c.slot) + ".data", 5);
  }
  CHECK((*reader)->Verify("job", 0, 2).code() == Code::kCorruption);
}

TEST_CASE("a reader racing a move to kept/ reads the kept copy", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 3);
  auto writer = Engine::Open(KeepOptions(dir.path(), 1), fs.get(), gpu.get());
  REQUIRE(writer.ok());
  SaveSteps(**writer, {{1, sets.at(1)}, {2, sets.at(2)}});
  EngineOptions ro = KeepOptions(dir.path(), 1);
  ro.read_only = true;
  auto reader = Engine::Open(ro, fs.get(), gpu.get());  // sees step 1 in its ring slot
  REQUIRE(reader.ok());
  SaveSteps(**writer, {{3, sets.at(3)}});  // moves step 1 to kept/
  REQUIRE(stdfs::exists(KeptFile(dir, 1, ".data")));

  CHECK((*reader)->Verify("job", 0, 1).ToString() == "Ok");
  CheckRestore(**reader, sets.at(1), 1, 1);
}

TEST_CASE("a reader racing prune reports pruned, not damage", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto writer = Engine::Open(KeepOptions(dir.path(), 1), fs.get(), gpu.get());
  REQUIRE(writer.ok());
  SaveSteps(**writer, Sets(1, 3));
  EngineOptions ro = KeepOptions(dir.path(), 1);
  ro.read_only = true;
  auto reader = Engine::Open(ro, fs.get(), gpu.get());
  REQUIRE(reader.ok());
  REQUIRE(ListOf(**reader).kept == std::vector<uint64_t>{1});
  REQUIRE((*writer)->Prune({0, std::nullopt, std::nullopt, false}).ok());

  Status s = (*reader)->Verify("job", 0, 1);
  INFO(s.ToString());
  CHECK(s.code() == Code::kAborted);
  CHECK(s.message().find("pruned while verifying") != std::string::npos);
}

TEST_CASE("recovery finishes a move whose manifest had not followed its data", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto sets = Sets(1, 3);
  uint32_t slot_of_2 = 0;
  {
    auto engine = Engine::Open(KeepOptions(dir.path(), 0), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    SaveSteps(**engine, sets);  // 2 slots: 2 and 3; step 1 is gone
    for (const auto& c : (*engine)->List()) {
      if (c.step == 2) slot_of_2 = c.slot;
    }
  }
  // The state between the two renames (retention.cc): step 2's data in
  // kept/, its manifest still in the ring.
  const std::string ring = RankDir(dir) + "/slot-" + std::to_string(slot_of_2);
  stdfs::create_directories(RankDir(dir) + "/kept");
  stdfs::rename(ring + ".data", KeptFile(dir, 2, ".data"));

  auto engine = Engine::Open(KeepOptions(dir.path(), 2), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  Listed l = ListOf(**engine);
  CHECK(l.kept == std::vector<uint64_t>{2});
  CHECK(l.ring == std::vector<uint64_t>{3});
  CHECK(stdfs::exists(KeptFile(dir, 2, ".manifest")));
  CHECK_FALSE(stdfs::exists(ring + ".manifest"));
  CheckRestore(**engine, sets.at(2), 2, 2);
}

TEST_CASE("recovery removes kept data that no manifest describes", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  {
    auto engine = Engine::Open(KeepOptions(dir.path(), 1), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    SaveSteps(**engine, Sets(1, 4));
    REQUIRE(ListOf(**engine).kept == std::vector<uint64_t>{2, 1});
  }
  // What a prune interrupted between its two syncs leaves: step 1's
  // manifest gone, its data still there. And a .tmp from a torn write.
  stdfs::remove(KeptFile(dir, 1, ".manifest"));
  { std::ofstream(RankDir(dir) + "/kept/junk.tmp") << "x"; }

  EngineOptions ro = KeepOptions(dir.path(), 1);
  ro.read_only = true;
  {
    auto reader = Engine::Open(ro, fs.get(), gpu.get());  // changes nothing
    REQUIRE(reader.ok());
    CHECK(ListOf(**reader).kept == std::vector<uint64_t>{2});
    CHECK(stdfs::exists(KeptFile(dir, 1, ".data")));
  }
  auto engine = Engine::Open(KeepOptions(dir.path(), 1), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  CHECK(ListOf(**engine).kept == std::vector<uint64_t>{2});
  CHECK_FALSE(stdfs::exists(KeptFile(dir, 1, ".data")));
  CHECK_FALSE(stdfs::exists(RankDir(dir) + "/kept/junk.tmp"));
  CHECK(stdfs::exists(KeptFile(dir, 2, ".data")));
}

TEST_CASE("a damaged kept checkpoint is listed as damaged and never served", "[retention]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  {
    auto engine = Engine::Open(KeepOptions(dir.path(), 1), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    SaveSteps(**engine, Sets(1, 4));
  }
  FlipByte(KeptFile(dir, 1, ".manifest"), 30);
  FlipByte(KeptFile(dir, 2, ".data"), 30);
  auto engine = Engine::Open(KeepOptions(dir.path(), 1), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  bool damaged_1 = false;
  for (const auto& c : (*engine)->List()) {
    if (c.kept && c.step == 1) damaged_1 = c.state.rfind("damaged", 0) == 0;
  }
  CHECK(damaged_1);
  CHECK(stdfs::exists(KeptFile(dir, 1, ".data")));  // recovery leaves it to prune
  CHECK((*engine)->Verify("job", 0, 2).code() == Code::kCorruption);
  CHECK((*engine)->Verify("job", 0, 1).code() == Code::kNotFound);
  // Prune counts it by its step like any other.
  auto pruned = (*engine)->Prune({0, std::nullopt, std::nullopt, false});
  REQUIRE(pruned.ok());
  CHECK(pruned->size() == 2);
  CHECK_FALSE(stdfs::exists(KeptFile(dir, 1, ".data")));
}

}  // namespace
}  // namespace pccheck::testing
