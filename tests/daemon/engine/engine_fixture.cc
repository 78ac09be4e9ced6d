#include "engine_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include "catch.h"

namespace pccheck::testing {

TensorSet TensorSet::Make(const std::vector<size_t>& sizes, uint64_t seed) {
  TensorSet t;
  for (size_t i = 0; i < sizes.size(); ++i) {
    t.names.push_back("t" + std::to_string(i));
    t.data.push_back(RandomBytes(sizes[i], seed * 1000 + i));
  }
  return t;
}

std::vector<TensorSource> TensorSet::Sources() const {
  std::vector<TensorSource> out;
  for (size_t i = 0; i < names.size(); ++i) {
    TensorSource s;
    s.meta.name = names[i];
    s.meta.dtype = "uint8";
    s.meta.shape = {static_cast<int64_t>(data[i].size())};
    s.meta.bytes = data[i].size();
    s.data = data[i].data();
    out.push_back(s);
  }
  return out;
}

TensorSet TensorSet::EmptyLike() const {
  TensorSet t;
  t.names = names;
  for (const auto& d : data) t.data.emplace_back(d.size(), 0);
  return t;
}

std::map<std::string, TensorDest> TensorSet::Dests() {
  std::map<std::string, TensorDest> out;
  for (size_t i = 0; i < names.size(); ++i) {
    out[names[i]] = TensorDest{kHostDevice, data[i].data(), data[i].size()};
  }
  return out;
}

EngineOptions SmallOptions(const std::string& root, int max_inflight) {
  EngineOptions o;
  o.root = root;
  o.chunk_bytes = 64 << 10;
  o.pool_bytes = 4 * o.chunk_bytes;
  o.writers = 3;
  o.max_inflight = max_inflight;
  // These options size the pool below two snapshots (backpressure paths);
  // the memory tier's tests (memory_tier_test.cc, power_loss_test.cc) set
  // Policy::kCoalesce with a pool that holds them.
  o.policy = Policy::kBlock;
  return o;
}

SaveRequest MakeRequest(const TensorSet& t, uint64_t step, const std::string& job, uint32_t rank) {
  SaveRequest r;
  r.job = job;
  r.rank = rank;
  r.step = step;
  r.tensors = t.Sources();
  r.user_blob = "blob of step " + std::to_string(step);
  return r;
}

void CheckRestore(Engine& engine, const TensorSet& expected, std::optional<uint64_t> step,
                  uint64_t expect_step, const std::string& job) {
  TensorSet out = expected.EmptyLike();
  auto r = engine.Restore(job, 0, step, out.Dests());
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->step == expect_step);
  CHECK(r->user_blob == "blob of step " + std::to_string(expect_step));
  for (size_t i = 0; i < expected.data.size(); ++i) {
    INFO("tensor " << expected.names[i] << " of " << expected.data[i].size() << " bytes");
    CHECK(out.data[i] == expected.data[i]);
  }
}

void FlipByte(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  unsigned char c = 0;
  REQUIRE(::pread(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  c ^= 0x40;
  REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  ::close(fd);
}

std::string SlotFile(Engine& engine, const std::string& root, uint64_t step,
                     const std::string& suffix) {
  for (const auto& c : engine.List()) {
    if (c.step == step && !c.kept) {
      return root + "/job/rank-0/slot-" + std::to_string(c.slot) + suffix;
    }
  }
  FAIL("step " << step << " is not listed in a ring slot");
  return "";
}

}  // namespace pccheck::testing
