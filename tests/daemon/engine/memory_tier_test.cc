// The memory tier (policy `coalesce`): snapshots are taken into the pool at
// copy speed whatever the disk does; the disk persists the newest one; older
// waiting ones end coalesced; a waiting snapshot is a recovery point. The
// disk is made slow with FaultFileSystem's write gate, so every assertion is
// on events and order, never on time.
#include <atomic>
#include <thread>

#include "catch.h"
#include "engine/chunk_pool.h"
#include "engine_fixture.h"
#include "gated_gpu.h"
#include "support/fault_file_system.h"
#include "support/wait_until.h"

namespace pccheck::testing {
namespace {

const std::vector<size_t> kSizes = {70'000, 3, 100'000};  // 3 chunks of 64 KiB

EngineOptions TierOptions(const std::string& root, Policy policy, uint64_t pool_chunks) {
  EngineOptions o = SmallOptions(root);
  o.policy = policy;
  o.pool_bytes = pool_chunks * o.chunk_bytes;
  return o;
}

std::vector<CheckpointInfo> Committed(Engine& e) {
  std::vector<CheckpointInfo> out;
  for (auto& c : e.List()) {
    if (c.state == "committed") out.push_back(c);
  }
  return out;
}

bool Lists(Engine& e, uint64_t step) {
  for (auto& c : Committed(e)) {
    if (c.step == step) return true;
  }
  return false;
}

TEST_CASE("coalesce: saves faster than the disk hold the trainer only for its copy") {
  TempDir dir;
  auto base = NewPosixFileSystem();
  FaultFileSystem ffs(base.get(), dir.path());
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(TierOptions(dir.path(), Policy::kCoalesce, 8), &ffs, gpu.get());
  REQUIRE(engine.ok());
  Engine& e = **engine;
  ffs.HoldWrites(true);

  std::vector<TensorSet> sets;
  for (uint64_t s = 1; s <= 6; ++s) sets.push_back(TensorSet::Make(kSizes, s));
  std::vector<std::shared_ptr<SaveHandle>> h;
  for (uint64_t s = 1; s <= 6; ++s) {
    auto r = e.Save(MakeRequest(sets[s - 1], s));
    INFO("step " << s << ": " << r.status().ToString());
    REQUIRE(r.ok());
    // The trainer waits for its own copy only: the snapshot completes while
    // no byte of data has reached the disk.
    (*r)->WaitSnapshot();
    CHECK(ffs.held_writes() >= (s == 1 ? 0 : 1));
    h.push_back(r.value());
    if (s == 1) ffs.WaitHeldWrites(1);  // step 1 is being written
  }
  // Steps 2..5 were superseded before their writing began.
  for (uint64_t s = 2; s <= 5; ++s) {
    INFO("step " << s);
    REQUIRE(h[s - 1]->Wait().ok());
    CHECK(h[s - 1]->coalesced());
  }
  CHECK_FALSE(h[5]->done());
  CHECK_FALSE(h[0]->done());

  // The newest snapshot is a recovery point before it is on disk.
  {
    auto p = e.Progress();
    REQUIRE(p.size() == 1);
    CHECK(p[0].newest_snapshot_step == std::optional<uint64_t>(6));
    CHECK_FALSE(p[0].newest_durable_step.has_value());
    CHECK(p[0].coalesced == 4);
  }
  TensorSet out = sets[5].EmptyLike();
  auto r = e.Restore("job", 0, std::nullopt, out.Dests());
  REQUIRE(r.ok());
  CHECK(r->step == 6);
  CHECK(r->source == kSourceMemoryNotDurable);
  CHECK(r->user_blob == "blob of step 6");
  CHECK(out.data == sets[5].data);

  ffs.HoldWrites(false);
  REQUIRE(h[0]->Wait().ok());
  REQUIRE(h[5]->Wait().ok());
  CHECK_FALSE(h[0]->coalesced());
  CHECK_FALSE(h[5]->coalesced());
  // The newest was persisted next: nothing between 1 and 6 reached the disk.
  auto committed = Committed(e);
  CHECK(Lists(e, 1));
  CHECK(Lists(e, 6));
  CHECK(committed.size() == 2);
  CHECK(e.LatestStep("job", 0) == std::optional<uint64_t>(6));
  CHECK(e.Verify("job", 0, 6).ok());
  e.Shutdown();
  CheckRestore(e, sets[5], std::nullopt, 6);  // from the resident copy or disk
  auto st = e.Stats();
  CHECK(st.saves_committed == 2);
  CHECK(st.saves_coalesced == 4);
  CHECK(st.saves_failed == 0);
  CHECK(st.pool_bytes_free == st.pool_bytes_total);  // no chunk leaked
  CHECK(ffs.open_files() == 0);
}

// A GPU trainer's host does not wait for its copy (the update waits on the
// device), so its next save can arrive while the previous snapshot is still
// landing. That snapshot is superseded once it is whole: the save waits for
// copy time, never for the disk.
TEST_CASE(
    "coalesce: a save arriving while the previous snapshot lands waits for that copy, not the "
    "disk") {
  TempDir dir;
  auto base = NewPosixFileSystem();
  FaultFileSystem ffs(base.get(), dir.path());
  GatedGpu gpu;
  // 8 chunks: step 1 being written (3) and step 2 landing (3) leave 2, less
  // than step 3's 3, until step 2 can be reclaimed.
  auto engine = Engine::Open(TierOptions(dir.path(), Policy::kCoalesce, 8), &ffs, &gpu);
  REQUIRE(engine.ok());
  Engine& e = **engine;
  ffs.HoldWrites(true);
  auto s1 = TensorSet::Make(kSizes, 1);
  auto s2 = TensorSet::Make(kSizes, 2);
  auto s3 = TensorSet::Make(kSizes, 3);
  auto h1 = e.Save(MakeRequest(s1, 1));
  REQUIRE(h1.ok());
  ffs.WaitHeldWrites(1);  // step 1 is being written and stays so
  SaveRequest on_device = MakeRequest(s2, 2);
  for (auto& t : on_device.tensors) t.device = 1;
  auto h2 = e.Save(std::move(on_device));
  REQUIRE(h2.ok());
  gpu.AwaitWaiter();  // step 2's copy has not landed
  CHECK_FALSE((*h2)->snapshot_done());

  std::atomic<bool> admitted{false};
  Result<std::shared_ptr<SaveHandle>> h3 = Status::Unavailable("not saved yet");
  std::thread saver([&] {
    h3 = e.Save(MakeRequest(s3, 3));
    admitted = true;
  });
  gpu.Open();  // step 2 lands; the disk still writes nothing
  Status s = WaitUntil([&] { return admitted.load(); }, std::chrono::seconds(60),
                       "step 3 is admitted while the disk is held");
  CHECK(s.ok());
  CHECK(ffs.held_writes() >= 1);
  CHECK_FALSE((*h1)->done());
  ffs.HoldWrites(false);  // lets a saver stuck behind the disk finish, too
  saver.join();
  REQUIRE(h3.ok());
  REQUIRE((*h2)->Wait().ok());
  CHECK((*h2)->coalesced());
  REQUIRE((*h1)->Wait().ok());
  REQUIRE((*h3)->Wait().ok());
  CHECK(e.LatestStep("job", 0) == std::optional<uint64_t>(3));
  CheckRestore(e, s3, std::nullopt, 3);
  e.Shutdown();
  CHECK(e.Stats().pool_bytes_free == e.Stats().pool_bytes_total);  // no chunk leaked
}

TEST_CASE("coalesce: keep-every checkpoints are never coalesced away") {
  TempDir dir;
  auto base = NewPosixFileSystem();
  FaultFileSystem ffs(base.get(), dir.path());
  auto gpu = NewFakeGpu();
  EngineOptions o = TierOptions(dir.path(), Policy::kCoalesce, 16);
  o.keep_every = 2;
  auto engine = Engine::Open(o, &ffs, gpu.get());
  REQUIRE(engine.ok());
  Engine& e = **engine;
  ffs.HoldWrites(true);
  std::vector<TensorSet> sets;
  std::vector<std::shared_ptr<SaveHandle>> h;
  for (uint64_t s = 1; s <= 5; ++s) {
    sets.push_back(TensorSet::Make(kSizes, s));
    auto r = e.Save(MakeRequest(sets.back(), s));
    INFO("step " << s << ": " << r.status().ToString());
    REQUIRE(r.ok());
    (*r)->WaitSnapshot();
    h.push_back(r.value());
    if (s == 1) ffs.WaitHeldWrites(1);
  }
  ffs.HoldWrites(false);
  for (auto& x : h) REQUIRE(x->Wait().ok());
  CHECK_FALSE(h[1]->coalesced());  // step 2, kept
  CHECK(h[2]->coalesced());        // step 3
  CHECK_FALSE(h[3]->coalesced());  // step 4, kept
  CHECK_FALSE(h[4]->coalesced());  // step 5, the newest
  CHECK(Lists(e, 2));
  CHECK(Lists(e, 4));
  CHECK(Lists(e, 5));
  CHECK(e.LatestStep("job", 0) == std::optional<uint64_t>(5));
  CheckRestore(e, sets[1], 2, 2);
  CheckRestore(e, sets[3], 4, 4);
  auto st = e.Stats();
  CHECK(st.saves_coalesced == 1);
  CHECK(st.saves_committed == 4);
}

TEST_CASE("skip refuses at once when the pool cannot take a snapshot whole") {
  TempDir dir;
  auto base = NewPosixFileSystem();
  FaultFileSystem ffs(base.get(), dir.path());
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(TierOptions(dir.path(), Policy::kSkip, 4), &ffs, gpu.get());
  REQUIRE(engine.ok());
  Engine& e = **engine;
  ffs.HoldWrites(true);
  auto a = TensorSet::Make(kSizes, 1);
  auto b = TensorSet::Make(kSizes, 2);
  auto h1 = e.Save(MakeRequest(a, 1));
  REQUIRE(h1.ok());
  ffs.WaitHeldWrites(1);  // its chunks are held by the slow disk
  // Refused in Save itself, before any copy: the trainer is never held.
  auto h2 = e.Save(MakeRequest(b, 2));
  REQUIRE_FALSE(h2.ok());
  CHECK(h2.status().code() == Code::kBusy);
  CHECK(h2.status().message().find("cannot take") != std::string::npos);
  CHECK(e.Stats().saves_skipped == 1);
  ffs.HoldWrites(false);
  REQUIRE((*h1)->Wait().ok());
  CheckRestore(e, a, std::nullopt, 1);
}

TEST_CASE("coalesce waits for memory, before the copy, when even reclaiming leaves too little") {
  TempDir dir;
  auto base = NewPosixFileSystem();
  FaultFileSystem ffs(base.get(), dir.path());
  auto gpu = NewFakeGpu();
  // Room for one snapshot only: while step 1 is written, nothing else fits.
  auto engine = Engine::Open(TierOptions(dir.path(), Policy::kCoalesce, 4), &ffs, gpu.get());
  REQUIRE(engine.ok());
  Engine& e = **engine;
  ffs.HoldWrites(true);
  auto a = TensorSet::Make(kSizes, 1);
  auto b = TensorSet::Make(kSizes, 2);
  auto h1 = e.Save(MakeRequest(a, 1));
  REQUIRE(h1.ok());
  ffs.WaitHeldWrites(1);
  Result<std::shared_ptr<SaveHandle>> h2 = Status::Unavailable("not saved yet");
  std::thread saver([&] { h2 = e.Save(MakeRequest(b, 2)); });
  // Step 1's chunks come back once written: then step 2 is admitted whole.
  ffs.HoldWrites(false);
  saver.join();
  REQUIRE(h2.ok());
  REQUIRE((*h1)->Wait().ok());
  REQUIRE((*h2)->Wait().ok());
  CHECK_FALSE((*h2)->coalesced());
  auto p = e.Progress();
  REQUIRE(p.size() == 1);
  CHECK(p[0].skipped == 0);
  CHECK(p[0].committed == 2);
  CheckRestore(e, b, std::nullopt, 2);
}

TEST_CASE("block persists every request, waiting for pool memory") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(TierOptions(dir.path(), Policy::kBlock, 4), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  Engine& e = **engine;
  std::vector<TensorSet> sets;
  std::vector<std::shared_ptr<SaveHandle>> h;
  for (uint64_t s = 1; s <= 5; ++s) {
    sets.push_back(TensorSet::Make(kSizes, s));
    auto r = e.Save(MakeRequest(sets.back(), s));
    REQUIRE(r.ok());
    h.push_back(r.value());
  }
  for (auto& x : h) {
    REQUIRE(x->Wait().ok());
    CHECK_FALSE(x->coalesced());
  }
  auto st = e.Stats();
  CHECK(st.saves_committed == 5);
  CHECK(st.saves_coalesced == 0);
  CheckRestore(e, sets[4], std::nullopt, 5);
  CheckRestore(e, sets[3], 4, 4);
}

TEST_CASE("power loss while snapshots wait in memory never serves a torn checkpoint") {
  auto a = TensorSet::Make(kSizes, 1);
  auto b = TensorSet::Make(kSizes, 2);
  auto c = TensorSet::Make(kSizes, 3);
  for (int crash_at = 1; crash_at <= 40; ++crash_at) {
    TempDir dir;
    auto base = NewPosixFileSystem();
    uint64_t acked = 0;
    int syncs = 0;
    {
      FaultFileSystem ffs(base.get(), dir.path());
      auto gpu = NewFakeGpu();
      auto engine = Engine::Open(TierOptions(dir.path(), Policy::kCoalesce, 12), &ffs, gpu.get());
      REQUIRE(engine.ok());
      ffs.CrashAtSyncPoint(crash_at);
      const int before = ffs.sync_points();
      std::vector<std::shared_ptr<SaveHandle>> hs;
      uint64_t step = 0;
      for (const TensorSet* t : {&a, &b, &c}) {
        auto r = (*engine)->Save(MakeRequest(*t, ++step));
        if (r.ok()) hs.push_back(r.value());
      }
      for (auto& x : hs) {
        if (x->Wait().ok() && !x->coalesced()) acked = std::max(acked, x->step());
      }
      (*engine)->Shutdown();
      syncs = ffs.sync_points() - before;
      REQUIRE(ffs.PowerLoss().ok());
    }
    auto gpu = NewFakeGpu();
    auto reopened =
        Engine::Open(TierOptions(dir.path(), Policy::kCoalesce, 12), base.get(), gpu.get());
    REQUIRE(reopened.ok());
    auto latest = (*reopened)->LatestStep("job", 0);
    INFO("crash at sync point " << crash_at << ", acknowledged step " << acked);
    if (acked > 0) {
      REQUIRE(latest.has_value());
      CHECK(*latest >= acked);
    }
    if (latest) {
      const TensorSet* want = *latest == 1 ? &a : *latest == 2 ? &b : &c;
      CheckRestore(**reopened, *want, std::nullopt, *latest);
    }
    if (syncs < crash_at) break;  // the crash point lies beyond every sync: all covered
  }
}

}  // namespace
}  // namespace pccheck::testing
