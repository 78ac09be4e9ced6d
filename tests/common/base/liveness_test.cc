// Liveness (daemon/util/liveness.h): parked threads are never stalled, a
// thread busy in one step past the limit is, and each step restarts the clock.
#include "base/liveness.h"

#include "catch.h"
#include "support/manual_clock.h"

namespace pccheck {
namespace {

constexpr uint64_t kLimit = 30'000'000;

TEST_CASE("A parked worker is never stalled, however long it waits") {
  testing::ManualClock clock;
  Liveness live(&clock);
  Liveness::Worker w = live.Add("writer 1");
  CHECK(live.Watched() == 1);
  clock.Advance(10 * kLimit);
  CHECK(live.Stalled(kLimit).empty());
  w.Busy("writing a chunk");
  w.Park();
  clock.Advance(10 * kLimit);
  CHECK(live.Stalled(kLimit).empty());
}

TEST_CASE("A worker busy in one step past the limit is stalled, named with its step") {
  testing::ManualClock clock;
  Liveness live(&clock);
  Liveness::Worker a = live.Add("writer 1");
  Liveness::Worker b = live.Add("commit thread");
  a.Busy("writing a chunk");
  b.Busy("committing a save");
  clock.Advance(kLimit);
  CHECK(live.Stalled(kLimit).empty());  // at the limit, not past it
  b.Busy("committing a save");          // a new step restarts its clock
  clock.Advance(5'000'000);
  auto stalled = live.Stalled(kLimit);
  REQUIRE(stalled.size() == 1);
  CHECK(stalled[0] == "writer 1: writing a chunk for 35 s");
}

TEST_CASE("A worker that goes away is no longer watched") {
  testing::ManualClock clock;
  Liveness live(&clock);
  {
    Liveness::Worker w = live.Add("copy thread");
    w.Busy("copying a chunk");
    Liveness::Worker moved = std::move(w);
    clock.Advance(2 * kLimit);
    CHECK(live.Stalled(kLimit).size() == 1);
    w.Busy("ignored: moved from");
    CHECK(live.Watched() == 1);
  }
  CHECK(live.Watched() == 0);
  CHECK(live.Stalled(kLimit).empty());
}

}  // namespace
}  // namespace pccheck
