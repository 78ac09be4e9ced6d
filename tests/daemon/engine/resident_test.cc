// The newest commit stays in the pool ("resident") until the pool needs the
// space, and a restore of it reads memory, verified like a read from disk.
#include <fcntl.h>
#include <unistd.h>

#include "catch.h"
#include "engine/chunk_pool.h"
#include "engine_fixture.h"

namespace pccheck::testing {
namespace {

// Room for two checkpoints of kSizes (3 chunks of 64 KiB each).
EngineOptions ResidentOptions(const std::string& root) {
  EngineOptions o = SmallOptions(root);
  o.pool_bytes = 8 * o.chunk_bytes;
  return o;
}

const std::vector<size_t> kSizes = {70'000, 3, 100'000};

std::shared_ptr<SaveHandle> SaveAndWait(Engine& engine, const TensorSet& set, uint64_t step) {
  auto h = engine.Save(MakeRequest(set, step));
  REQUIRE(h.ok());
  REQUIRE((*h)->Wait().ok());
  return h.value();
}

void ZeroFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  std::vector<char> zeros(1 << 20, 0);
  REQUIRE(::pwrite(fd, zeros.data(), zeros.size(), 0) == static_cast<ssize_t>(zeros.size()));
  ::close(fd);
}

TEST_CASE("restoring the newest commit reads the pool, not the disk") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(ResidentOptions(dir.path()), fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto a = TensorSet::Make(kSizes, 1);
  auto b = TensorSet::Make(kSizes, 2);
  SaveAndWait(**engine, a, 1);
  SaveAndWait(**engine, b, 2);
  // Wipe step 2 on disk: only the resident copy can still give its bytes.
  ZeroFile(SlotFile(**engine, dir.path(), 2, ".data"));

  auto out = b.EmptyLike();
  auto r = (*engine)->Restore("job", 0, std::nullopt, out.Dests());
  REQUIRE(r.ok());
  CHECK(r->source == "memory");
  CHECK(r->step == 2);
  CHECK(out.data == b.data);
  // The same by explicit step.
  auto again = b.EmptyLike();
  auto r2 = (*engine)->Restore("job", 0, 2, again.Dests());
  REQUIRE(r2.ok());
  CHECK(r2->source == "memory");
  CHECK(again.data == b.data);
  // Verify always reads the disk, so the damage is reported.
  CHECK((*engine)->Verify("job", 0, 2).code() == Code::kCorruption);
  // An older step is no longer resident: it comes from disk.
  auto old = a.EmptyLike();
  auto r1 = (*engine)->Restore("job", 0, 1, old.Dests());
  REQUIRE(r1.ok());
  CHECK(r1->source == "disk");
  CHECK(old.data == a.data);
  auto stats = (*engine)->Stats();
  CHECK(stats.pool_bytes_free == stats.pool_bytes_total);  // resident chunks count as free
}

TEST_CASE("a resident copy evicted by later saves is not served") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  EngineOptions o = SmallOptions(dir.path());  // 4 chunks: one checkpoint of 3 fits
  auto engine = Engine::Open(o, fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto a = TensorSet::Make(kSizes, 1);
  SaveAndWait(**engine, a, 1);
  auto out = a.EmptyLike();
  auto r = (*engine)->Restore("job", 0, 1, out.Dests());
  REQUIRE(r.ok());
  CHECK(r->source == "memory");

  // Step 2 needs 5 chunks of a 4-chunk pool: its copies evict step 1's.
  auto big = TensorSet::Make({300'000}, 9);
  SaveAndWait(**engine, big, 2);
  auto r1 = (*engine)->Restore("job", 0, 1, a.EmptyLike().Dests());
  REQUIRE(r1.ok());
  CHECK(r1->source == "disk");
}

TEST_CASE("keep_resident=false always reads the disk") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  EngineOptions o = ResidentOptions(dir.path());
  o.keep_resident = false;
  auto engine = Engine::Open(o, fs.get(), gpu.get());
  REQUIRE(engine.ok());
  auto a = TensorSet::Make(kSizes, 1);
  SaveAndWait(**engine, a, 1);
  auto out = a.EmptyLike();
  auto r = (*engine)->Restore("job", 0, std::nullopt, out.Dests());
  REQUIRE(r.ok());
  CHECK(r->source == "disk");
  CHECK(out.data == a.data);
}

TEST_CASE("a pinned resident chunk is never handed out; a stale ref does not pin") {
  auto gpu = NewFakeGpu();
  auto pool = ChunkPool::Create(gpu.get(), 2 * 4096, 4096);
  REQUIRE(pool.ok());
  ChunkPool& p = **pool;
  uint8_t* a = p.TryAcquire();
  uint8_t* b = p.TryAcquire();
  REQUIRE((a && b));
  CHECK(p.TryAcquire() == nullptr);
  a[0] = 7;
  ChunkRef ra = p.ReleaseResident(a);
  ChunkRef rb = p.ReleaseResident(b);
  CHECK(p.free_count() == 2);
  CHECK(p.resident_count() == 2);

  REQUIRE(p.Pin({ra}));
  CHECK(p.free_count() == 1);
  uint8_t* c = p.TryAcquire();  // evicts b, the only unpinned one
  CHECK(c == b);
  CHECK(p.TryAcquire() == nullptr);  // a is pinned
  CHECK(a[0] == 7);
  CHECK_FALSE(p.Pin({ra, rb}));  // b's bytes are gone: nothing is pinned
  p.Unpin({ra});
  uint8_t* d = p.TryAcquire();  // now a may go
  CHECK(d == a);
  CHECK_FALSE(p.Pin({ra}));  // handed out again: its ref is stale
  p.Release(c);
  p.Release(d);

  // Forget turns still-resident chunks into plain free ones.
  uint8_t* e = p.TryAcquire();
  ChunkRef re = p.ReleaseResident(e);
  p.Forget({re, ra});  // ra is stale: ignored
  CHECK(p.resident_count() == 0);
  CHECK(p.free_count() == 2);
}

}  // namespace
}  // namespace pccheck::testing
