// RecentRate: the ten-second byte rate behind status's write_gbps_recent and
// copy_gbps_recent, driven with explicit times.
#include "engine/recent_rate.h"

#include "catch.h"

namespace pccheck {
namespace {

constexpr uint64_t kS = 1'000'000;  // one second in microseconds

TEST_CASE("recent rate is zero before anything is added") {
  RecentRate r(0);
  CHECK(r.BytesPerSecond(0) == 0);
  CHECK(r.BytesPerSecond(50 * kS) == 0);
}

TEST_CASE("recent rate divides by the time since start, at least one second") {
  RecentRate r(100 * kS);
  r.Add(100 * kS, 10'000'000);
  CHECK(r.BytesPerSecond(100 * kS) == 10'000'000.0);           // a burst: per one second
  CHECK(r.BytesPerSecond(100 * kS + kS / 2) == 10'000'000.0);  // still under a second
  CHECK(r.BytesPerSecond(105 * kS) == 2'000'000.0);            // 10 MB over 5 s
}

TEST_CASE("recent rate counts the current second and the nine before it") {
  RecentRate r(0);
  r.Add(kS / 2, 100);      // second 0
  r.Add(3 * kS + 1, 200);  // second 3
  CHECK(r.BytesPerSecond(5 * kS) == 300.0 / 5);
  // At 10.5 s the window is seconds 1..10, from 1 s to now: second 0 is out.
  CHECK(r.BytesPerSecond(10 * kS + kS / 2) == 200.0 / 9.5);
  // At 13.5 s the window starts at 4 s: nothing is left in it.
  CHECK(r.BytesPerSecond(13 * kS + kS / 2) == 0);
  // Second 13 reuses second 3's bucket; the old bytes do not come back.
  r.Add(13 * kS + 1, 50);
  CHECK(r.BytesPerSecond(13 * kS + kS / 2) == 50.0 / 9.5);
}

TEST_CASE("recent rate counts a late sample in the newest second it has seen") {
  RecentRate r(0);
  r.Add(20 * kS, 100);
  r.Add(2 * kS, 100);  // a thread that read the clock earlier reports late
  CHECK(r.BytesPerSecond(20 * kS) == 200.0 / 9);
}

}  // namespace
}  // namespace pccheck
