// A flipped byte in a committed checkpoint is detected by verify and by
// restore, and recovery falls back to the previous checkpoint.
#include "catch.h"
#include "engine_fixture.h"

namespace pccheck::testing {
namespace {

TEST_CASE("a flipped data byte is detected and restore falls back") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto a = TensorSet::Make({70'000, 3, 200'000}, 1);
  auto b = TensorSet::Make({70'000, 3, 200'000}, 2);
  EngineOptions options = SmallOptions(dir.path());
  options.keep_resident = false;  // restores must read the damaged disk
  auto engine = Engine::Open(options, fs.get(), gpu.get());
  REQUIRE(engine.ok());
  for (auto [set, step] : {std::pair{&a, 1}, std::pair{&b, 2}}) {
    auto h = (*engine)->Save(MakeRequest(*set, step));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
  }
  const std::string data = SlotFile(**engine, dir.path(), 2, ".data");
  FlipByte(data, 150'000);  // inside chunk 2

  Status v = (*engine)->Verify("job", 0, 2);
  CHECK(v.code() == Code::kCorruption);
  CHECK(v.message().find("chunk 2") != std::string::npos);
  CHECK(v.message().find(data) != std::string::npos);
  CHECK((*engine)->Verify("job", 0, 1).ok());

  auto out = b.EmptyLike();
  auto explicit_step = (*engine)->Restore("job", 0, 2, out.Dests());
  CHECK(explicit_step.status().code() == Code::kCorruption);

  auto r = (*engine)->Restore("job", 0, std::nullopt, out.Dests());
  REQUIRE(r.ok());
  CHECK(r->step == 1);
  REQUIRE(r->skipped.size() == 1);
  CHECK(r->skipped[0].find("step 2") != std::string::npos);
  CHECK(out.data == a.data);
}

TEST_CASE("a flipped manifest byte makes recovery fall back to the previous checkpoint") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto a = TensorSet::Make({10'000}, 1);
  auto b = TensorSet::Make({10'000}, 2);
  std::string manifest;
  {
    auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    for (auto [set, step] : {std::pair{&a, 1}, std::pair{&b, 2}}) {
      auto h = (*engine)->Save(MakeRequest(*set, step));
      REQUIRE(h.ok());
      REQUIRE((*h)->Wait().ok());
    }
    manifest = SlotFile(**engine, dir.path(), 2, ".manifest");
  }
  FlipByte(manifest, 20);
  auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  CHECK((*engine)->LatestStep("job", 0) == std::optional<uint64_t>(1));
  CheckRestore(**engine, a, std::nullopt, 1);
  bool damaged_listed = false;
  for (const auto& i : (*engine)->List()) {
    if (i.state.rfind("damaged", 0) == 0) damaged_listed = true;
  }
  CHECK(damaged_listed);
}

}  // namespace
}  // namespace pccheck::testing
