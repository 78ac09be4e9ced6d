// Newest wins: without the memory tier every save commits in step order, so
// an older one never loses to a newer one written first; the policies decide
// what happens when slots run out.
#include <chrono>
#include <memory>

#include "catch.h"
#include "engine_fixture.h"
#include "gated_gpu.h"
#include "support/wait_until.h"

namespace pccheck::testing {
namespace {

SaveRequest OnDevice(SaveRequest r, int device) {
  for (auto& t : r.tensors) t.device = device;
  return r;
}

// Step 10 (one chunk, on device 1) held in a writer by the gated GPU, and
// step 11 (several chunks, on the host) written in full behind it: the
// newer save's commit is up next.
struct OlderHeldNewerWritten {
  TempDir dir;
  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  GatedGpu gpu;
  std::unique_ptr<Engine> engine;
  TensorSet older = TensorSet::Make({1000, 2000}, 1);
  TensorSet newer = TensorSet::Make({300'000}, 2);
  std::shared_ptr<SaveHandle> h1, h2;

  OlderHeldNewerWritten() {
    auto opened = Engine::Open(SmallOptions(dir.path(), 3), fs.get(), &gpu);
    REQUIRE(opened.ok());
    engine = std::move(opened).value();
    auto s1 = engine->Save(OnDevice(MakeRequest(older, 10), 1));
    REQUIRE(s1.ok());
    h1 = *s1;
    gpu.AwaitWaiter();  // step 10's only chunk is parked in a writer
    auto s2 = engine->Save(MakeRequest(newer, 11));
    REQUIRE(s2.ok());
    h2 = *s2;
    auto written = [&] {
      for (const auto& i : engine->Inflight()) {
        if (i.step == 11 && i.committing) return true;
      }
      return false;
    };
    REQUIRE(WaitUntil(written, std::chrono::seconds(30), "step 11 is written").ok());
  }
};

TEST_CASE("block: a newer save written first commits after the older one, and both commit") {
  OlderHeldNewerWritten t;
  // Written in full, step 11 waits for step 10 instead of abandoning it.
  CHECK_FALSE(t.h2->done());
  CHECK(t.engine->LatestStep("job", 0) == std::nullopt);
  t.gpu.Open();
  CHECK(t.h1->Wait().ok());
  CHECK(t.h2->Wait().ok());
  CHECK(t.engine->LatestStep("job", 0) == std::optional<uint64_t>(11));
  CheckRestore(*t.engine, t.older, 10, 10);
  CheckRestore(*t.engine, t.newer, std::nullopt, 11);
  auto stats = t.engine->Stats();
  CHECK(stats.pool_bytes_free == stats.pool_bytes_total);
  CHECK(stats.saves_superseded == 0);
  for (uint64_t s = 12; s < 20; ++s) {
    auto h = t.engine->Save(MakeRequest(t.newer, s));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
  }
}

TEST_CASE("block: a failed older save does not hold back the newer one") {
  OlderHeldNewerWritten t;
  t.engine->Cancel(t.h1, Status::Aborted("cancelled by the test"));
  CHECK(t.h2->Wait().ok());  // while step 10's chunk is still held
  CHECK(t.engine->LatestStep("job", 0) == std::optional<uint64_t>(11));
  t.gpu.Open();
  CHECK(t.h1->Wait().message().find("cancelled by the test") != std::string::npos);
  CHECK(t.engine->LatestStep("job", 0) == std::optional<uint64_t>(11));
  CheckRestore(*t.engine, t.newer, std::nullopt, 11);
}

TEST_CASE("the skip policy refuses at once when max_inflight saves are in flight") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  GatedGpu gpu;
  auto opts = SmallOptions(dir.path(), 1);
  opts.policy = Policy::kSkip;
  auto engine = Engine::Open(opts, fs.get(), &gpu);
  REQUIRE(engine.ok());
  auto set = TensorSet::Make({1000}, 1);
  auto h1 = (*engine)->Save(OnDevice(MakeRequest(set, 1), 1));
  REQUIRE(h1.ok());
  gpu.AwaitWaiter();
  auto h2 = (*engine)->Save(MakeRequest(set, 2));
  REQUIRE_FALSE(h2.ok());
  CHECK(h2.status().code() == Code::kBusy);
  CHECK(h2.status().message().find("max_inflight=1") != std::string::npos);
  gpu.Open();
  REQUIRE((*h1)->Wait().ok());
  auto h3 = (*engine)->Save(MakeRequest(set, 3));
  REQUIRE(h3.ok());
  CHECK((*h3)->Wait().ok());
}

TEST_CASE("the block policy waits for a slot, then saves") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  GatedGpu gpu;
  auto opts = SmallOptions(dir.path(), 1);
  auto engine = Engine::Open(opts, fs.get(), &gpu);
  REQUIRE(engine.ok());
  auto set = TensorSet::Make({1000}, 1);
  auto h1 = (*engine)->Save(OnDevice(MakeRequest(set, 1), 1));
  REQUIRE(h1.ok());
  gpu.AwaitWaiter();
  std::thread opener([&] { gpu.Open(); });
  auto h2 = (*engine)->Save(MakeRequest(set, 2));  // returns once step 1 has ended
  opener.join();
  REQUIRE(h2.ok());
  CHECK((*h1)->Wait().ok());
  CHECK((*h2)->Wait().ok());
  CHECK((*engine)->LatestStep("job", 0) == std::optional<uint64_t>(2));
}

TEST_CASE("shutdown abandons saves in flight and leaves latest complete") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  GatedGpu gpu;
  auto engine = Engine::Open(SmallOptions(dir.path(), 2), fs.get(), &gpu);
  REQUIRE(engine.ok());
  auto set = TensorSet::Make({5000}, 1);
  auto h1 = (*engine)->Save(MakeRequest(set, 1));
  REQUIRE(h1.ok());
  REQUIRE((*h1)->Wait().ok());
  auto h2 = (*engine)->Save(OnDevice(MakeRequest(set, 2), 1));
  REQUIRE(h2.ok());
  gpu.AwaitWaiter();
  std::thread opener([&] { gpu.Open(); });
  (*engine)->Shutdown(/*deadline_us=*/1000);
  opener.join();
  CHECK((*h2)->done());
  engine.value().reset();
  auto again = Engine::Open(SmallOptions(dir.path(), 2), fs.get(), &gpu);
  REQUIRE(again.ok());
  auto latest = (*again)->LatestStep("job", 0);
  REQUIRE(latest.has_value());
  CheckRestore(**again, set, std::nullopt, *latest);
}

}  // namespace
}  // namespace pccheck::testing
