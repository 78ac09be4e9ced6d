// Bit-exact save and restore through the whole pipeline.
#include <memory>

#include "catch.h"
#include "engine_fixture.h"

namespace pccheck::testing {
namespace {

// 0 B, 1 B, not a multiple of 4 KiB, exactly a chunk, larger than a chunk,
// larger than the whole pool (4 chunks of 64 KiB).
const std::vector<size_t> kAwkward = {0, 1, 4095, 4097, 65536, 100'003, 1'000'001, 7, 0, 333'333};

TEST_CASE("round trip of awkward tensor sizes is bit-exact with 1..4 saves in flight") {
  for (int inflight = 1; inflight <= 4; ++inflight) {
    CAPTURE(inflight);
    TempDir dir;
    auto fs = NewPosixFileSystem();
    auto gpu = NewFakeGpu();
    auto engine = Engine::Open(SmallOptions(dir.path(), inflight), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    // Distinct data per step; every source stays alive until its save ends.
    std::vector<TensorSet> sets;
    std::vector<std::shared_ptr<SaveHandle>> handles;
    const int steps = inflight + 2;
    for (int s = 1; s <= steps; ++s) sets.push_back(TensorSet::Make(kAwkward, s + 10 * inflight));
    for (int s = 1; s <= steps; ++s) {
      auto h = (*engine)->Save(MakeRequest(sets[s - 1], s));
      REQUIRE(h.ok());
      handles.push_back(h.value());
    }
    for (auto& h : handles) {
      Status st = h->Wait();
      INFO("step " << h->step() << ": " << st.ToString());
      // An older save may lose to a newer one that committed first.
      CHECK((st.ok() || st.code() == Code::kAborted));
      CHECK(h->snapshot_done());
    }
    CHECK(handles.back()->status().ok());
    REQUIRE((*engine)->LatestStep("job", 0) == std::optional<uint64_t>(steps));
    CheckRestore(**engine, sets.back(), std::nullopt, steps);
    // Every older step still in the store restores too.
    for (const auto& info : (*engine)->List()) {
      CheckRestore(**engine, sets[info.step - 1], info.step, info.step);
    }
    auto stats = (*engine)->Stats();
    CHECK(stats.pool_bytes_free == stats.pool_bytes_total);
    CHECK(stats.inflight == 0);
  }
}

TEST_CASE("a reopened engine serves the checkpoints of the last one") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto set = TensorSet::Make(kAwkward, 99);
  {
    auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    auto h = (*engine)->Save(MakeRequest(set, 42));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
  }
  auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  CHECK((*engine)->LatestStep("job", 0) == std::optional<uint64_t>(42));
  CheckRestore(**engine, set, std::nullopt, 42);
  CheckRestore(**engine, set, 42, 42);
}

TEST_CASE("an empty checkpoint commits and restores") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  TensorSet none;
  auto h = (*engine)->Save(MakeRequest(none, 1));
  REQUIRE(h.ok());
  REQUIRE((*h)->Wait().ok());
  CheckRestore(**engine, none, std::nullopt, 1);
}

TEST_CASE("stores of different jobs and ranks are independent") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto a = TensorSet::Make({5000, 70000}, 1);
  auto b = TensorSet::Make({123, 456789}, 2);
  auto ha = (*engine)->Save(MakeRequest(a, 10, "alpha"));
  auto hb = (*engine)->Save(MakeRequest(b, 3, "beta"));
  REQUIRE(ha.ok());
  REQUIRE(hb.ok());
  REQUIRE((*ha)->Wait().ok());
  REQUIRE((*hb)->Wait().ok());
  CheckRestore(**engine, a, std::nullopt, 10, "alpha");
  CheckRestore(**engine, b, std::nullopt, 3, "beta");
  CHECK((*engine)->List().size() == 2);
}

TEST_CASE("malformed requests are refused with the cause") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto set = TensorSet::Make({10, 10}, 1);
  SECTION("duplicate tensor names") {
    auto r = MakeRequest(set, 1);
    r.tensors[1].meta.name = r.tensors[0].meta.name;
    auto h = (*engine)->Save(r);
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().message().find("appears twice") != std::string::npos);
  }
  SECTION("bad job name") {
    auto h = (*engine)->Save(MakeRequest(set, 1, "../escape"));
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kInvalidArgument);
  }
  SECTION("a step that is not newer than latest") {
    auto h = (*engine)->Save(MakeRequest(set, 5));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
    auto again = (*engine)->Save(MakeRequest(set, 5));
    REQUIRE_FALSE(again.ok());
    CHECK(again.status().message().find("not newer") != std::string::npos);
  }
  SECTION("restore of a step that is not there names the steps that are") {
    auto h = (*engine)->Save(MakeRequest(set, 7));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
    auto out = set.EmptyLike();
    auto r = (*engine)->Restore("job", 0, 8, out.Dests());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kNotFound);
    CHECK(r.status().message().find("7") != std::string::npos);
  }
}

TEST_CASE("a save may not jump the step by more than max-step-jump") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  EngineOptions opts = SmallOptions(dir.path());
  opts.max_step_jump = 1000;
  auto engine = Engine::Open(opts, fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto set = TensorSet::Make({10, 10}, 1);
  // Before the first commit the bound counts from step 0.
  auto first = (*engine)->Save(MakeRequest(set, 1001));
  REQUIRE_FALSE(first.ok());
  CHECK(first.status().code() == Code::kInvalidArgument);
  CHECK(first.status().message().find("nothing committed yet") != std::string::npos);
  auto h = (*engine)->Save(MakeRequest(set, 1000));
  REQUIRE(h.ok());
  REQUIRE((*h)->Wait().ok());
  auto wedge = (*engine)->Save(MakeRequest(set, UINT64_MAX));
  REQUIRE_FALSE(wedge.ok());
  INFO(wedge.status().message());
  CHECK(wedge.status().code() == Code::kInvalidArgument);
  CHECK(wedge.status().message().find("max-step-jump allows (1000)") != std::string::npos);
  CHECK(wedge.status().message().find("latest committed step 1000") != std::string::npos);
  // The refused step left the job as it was: the owner's next save commits.
  auto next = (*engine)->Save(MakeRequest(set, 2000));
  REQUIRE(next.ok());
  CHECK((*next)->Wait().ToString() == "Ok");
  CHECK((*engine)->LatestStep("job", 0) == std::optional<uint64_t>(2000));
  SECTION("0 turns the bound off") {
    opts.max_step_jump = 0;
    engine->reset();
    auto unbounded = Engine::Open(opts, fs.get(), gpu.get());
    REQUIRE(unbounded.ok());
    auto far = (*unbounded)->Save(MakeRequest(set, UINT64_MAX));
    REQUIRE(far.ok());
    CHECK((*far)->Wait().ToString() == "Ok");
  }
}

TEST_CASE("a job's owner is recorded once, durably, and read back by a later engine") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  const EngineOptions opts = SmallOptions(dir.path());
  {
    auto engine = Engine::Open(opts, fs.get(), gpu.get());
    REQUIRE(engine.ok());
    CHECK((*engine)->JobOwner("j").value() == std::nullopt);
    CHECK((*engine)->ClaimJob("j", 1000, false).value() == std::optional<uint32_t>(1000));
    // A second claim, by anyone, finds the first owner.
    CHECK((*engine)->ClaimJob("j", 1001, true).value() == std::optional<uint32_t>(1000));
    // A job made before owners were recorded is adopted only when asked.
    REQUIRE(fs->CreateDirs(dir.path() + "/legacy/rank-0").ok());
    CHECK((*engine)->ClaimJob("legacy", 0, false).value() == std::nullopt);
    CHECK((*engine)->ClaimJob("legacy", 1002, true).value() == std::optional<uint32_t>(1002));
  }
  CHECK(fs->ReadWholeFile(dir.path() + "/j/owner").value() == "1000\n");
  auto engine = Engine::Open(opts, fs.get(), gpu.get());
  REQUIRE(engine.ok());
  CHECK((*engine)->JobOwner("j").value() == std::optional<uint32_t>(1000));
  CHECK((*engine)->JobOwner("legacy").value() == std::optional<uint32_t>(1002));
  // A damaged record is no owner: it says so and how to repair it.
  REQUIRE(fs->CreateDirs(dir.path() + "/bad").ok());
  REQUIRE(fs->WriteFileAtomic(dir.path() + "/bad/owner", "alice\n").ok());
  auto bad = (*engine)->JobOwner("bad");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kCorruption);
  CHECK(bad.status().message().find("echo 1000 >") != std::string::npos);
}

}  // namespace
}  // namespace pccheck::testing
