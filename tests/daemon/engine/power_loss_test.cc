// Power loss at every sync point of a save: after recovery the store serves
// the newest acknowledged checkpoint or a newer one, never a torn one.
#include "catch.h"
#include "engine_fixture.h"
#include "support/fault_file_system.h"

namespace pccheck::testing {
namespace {

struct Outcome {
  bool acked_second = false;
  int sync_points = 0;
};

// The engine's options for a campaign: with `coalesce` the pool holds every
// snapshot whole, so the saves take the memory tier's path.
EngineOptions CampaignOptions(const std::string& root, Policy policy) {
  EngineOptions o = SmallOptions(root, 2);
  o.policy = policy;
  if (policy == Policy::kCoalesce) o.pool_bytes = 16 * o.chunk_bytes;
  return o;
}

// Acknowledged: committed, not merely ended (a coalesced save is never written).
bool Acked(const std::shared_ptr<SaveHandle>& h) { return h->Wait().ok() && !h->coalesced(); }

// Commits step 1, then saves steps 2 (and 3 when two_inflight) with power
// failing at sync point `crash_at` of the second phase (0: never).
Outcome RunSaves(FaultFileSystem& ffs, const std::string& root, const TensorSet& a,
                 const TensorSet& b, const TensorSet& c, int crash_at, bool two_inflight,
                 Policy policy) {
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(CampaignOptions(root, policy), &ffs, gpu.get());
  REQUIRE(engine.ok());
  auto h1 = (*engine)->Save(MakeRequest(a, 1));
  REQUIRE(h1.ok());
  REQUIRE((*h1)->Wait().ok());
  const int before = ffs.sync_points();
  ffs.CrashAtSyncPoint(crash_at);
  auto h2 = (*engine)->Save(MakeRequest(b, 2));
  Outcome out;
  std::shared_ptr<SaveHandle> h3;
  if (two_inflight) {
    auto r = (*engine)->Save(MakeRequest(c, 3));
    if (r.ok()) h3 = r.value();
  }
  if (h2.ok()) out.acked_second = Acked(*h2);
  if (h3) out.acked_second = Acked(h3) || out.acked_second;
  (*engine)->Shutdown();
  out.sync_points = ffs.sync_points() - before;
  return out;
}

void PowerLossCampaign(bool two_inflight, Policy policy = Policy::kBlock) {
  auto a = TensorSet::Make({70'000, 3, 200'000}, 1);
  auto b = TensorSet::Make({70'000, 3, 200'000}, 2);
  auto c = TensorSet::Make({70'000, 3, 200'000}, 3);
  auto posix = NewPosixFileSystem();
  int points = 0;
  {
    TempDir dir;
    FaultFileSystem ffs(posix.get(), dir.path());
    Outcome o = RunSaves(ffs, dir.path(), a, b, c, 0, two_inflight, policy);
    REQUIRE(o.acked_second);
    points = o.sync_points;
  }
  REQUIRE(points > 4);
  for (int k = 1; k <= points + 1; ++k) {
    CAPTURE(k, points);
    TempDir dir;
    FaultFileSystem ffs(posix.get(), dir.path());
    Outcome o = RunSaves(ffs, dir.path(), a, b, c, k, two_inflight, policy);
    REQUIRE(ffs.PowerLoss().ok());
    auto gpu = NewFakeGpu();
    auto engine = Engine::Open(CampaignOptions(dir.path(), policy), posix.get(), gpu.get());
    REQUIRE(engine.ok());
    auto latest = (*engine)->LatestStep("job", 0);
    REQUIRE(latest.has_value());
    CAPTURE(*latest, o.acked_second);
    CHECK(*latest >= (o.acked_second ? 2u : 1u));
    const TensorSet& expect = *latest == 1 ? a : (*latest == 2 ? b : c);
    CheckRestore(**engine, expect, std::nullopt, *latest);
    // Whatever else the store lists verifies too.
    for (const auto& info : (*engine)->List()) {
      INFO("step " << info.step << " " << info.state);
      CHECK(info.state == "committed");
      CHECK((*engine)->Verify("job", 0, info.step).ok());
    }
  }
}

TEST_CASE("power loss at every sync point of a save never loses or tears a checkpoint") {
  PowerLossCampaign(/*two_inflight=*/false);
}

TEST_CASE("power loss at every sync point with two saves in flight") {
  PowerLossCampaign(/*two_inflight=*/true);
}

TEST_CASE("power loss at every sync point of a save from the memory tier") {
  PowerLossCampaign(/*two_inflight=*/false, Policy::kCoalesce);
}

TEST_CASE("power loss at every sync point with a snapshot waiting in memory") {
  PowerLossCampaign(/*two_inflight=*/true, Policy::kCoalesce);
}

}  // namespace
}  // namespace pccheck::testing
