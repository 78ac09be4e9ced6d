// `pccheck tune`'s arithmetic (cli/tune_model.h) on hand-checked cases. Rates
// are powers of two so that the expected values below are exact; each case
// says how it was worked out, with the symbols of docs/tuning.md.
#include "cli/tune_model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "catch.h"

namespace pccheck::cli {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr double GiBps(double n) { return n * static_cast<double>(kGiB); }

// Equal to within rounding (Catch2 2 and 3 spell Approx differently).
#define CHECK_NEAR(x, y)                                            \
  do {                                                              \
    const double x_ = (x), y_ = (y);                                \
    INFO(#x " = " << x_ << ", expected " << y_);                    \
    CHECK(std::abs(x_ - y_) <= 1e-9 * std::max(1.0, std::abs(y_))); \
  } while (0)

// S = 4 GiB, t = 1 s, q = 2%; one sweep point, 4 writers x 16 MiB at
// W = 1 GiB/s; C = 8 GiB/s; no checksum or commit cost; 64 GiB of pool.
TuneInputs Base() {
  TuneInputs in;
  in.checkpoint_bytes = 4 * kGiB;
  in.iteration_s = 1;
  in.budget = 0.02;
  in.writes = {{4, 16 * kMiB, GiBps(1)}};
  in.copy_bytes_per_s = GiBps(8);
  in.max_pool_bytes = 64 * kGiB;
  in.max_interval = 3600;
  return in;
}

TEST_CASE("tune: a disk-bound checkpoint starts every T_w once two are in flight") {
  auto a = Recommend(Base());
  REQUIRE(a.ok());
  // T_w = 4 GiB / 1 GiB/s = 4 s; T_c = 4 / 8 = 0.5 s; the first and last
  // chunk add 16 MiB / 8 GiB/s + 16 MiB / 1 GiB/s = 1/512 + 1/64 s.
  CHECK(a->writers == 4);
  CHECK(a->chunk_bytes == 16 * kMiB);
  CHECK(a->persist_s == 4.0);
  CHECK(a->copy_s == 0.5);
  CHECK(a->lifetime_s == 4.0 + 1.0 / 512 + 1.0 / 64);
  // N = ceil(L / 4) = 2: the second covers the first's last chunk and commit.
  CHECK(a->wanted_inflight == 2);
  CHECK(a->max_inflight == 2);
  CHECK(!a->pool_limited);
  CHECK(a->pool_bytes == 8 * kGiB);  // 2 x 4 GiB: every snapshot fits
  CHECK(a->snapshot_s == 0.5);
  CHECK(a->stall_s == 0);      // the copy hides inside one 1 s iteration
  CHECK(a->spacing_s == 4.0);  // max(T_w, T_c, L / 2)
  // k >= 4 / (1.02 x 1) = 3.92: every 4 iterations, and then no slowdown.
  CHECK(a->feasible);
  CHECK(a->interval == 4);
  CHECK(a->slowdown == 0);
  CHECK_NEAR(PredictedSlowdown(*a, 1, 3), 4.0 / 3 - 1);
  // PCcheck's bound counts the persist time: 4 / (2 x 0.02 x 1) = 100.
  CHECK_NEAR(a->pccheck_bound, 100);
}

TEST_CASE("tune: a snapshot longer than an iteration stalls, and the stall sets the interval") {
  TuneInputs in = Base();
  in.iteration_s = 0.25;
  in.copy_bytes_per_s = GiBps(4);
  auto a = Recommend(in);
  REQUIRE(a.ok());
  // T_c = 1 s, an iteration 0.25 s: a stall of 0.75 s per checkpoint.
  CHECK(a->snapshot_s == 1.0);
  CHECK(a->stall_s == 0.75);
  // k >= 0.75 / (0.02 x 0.25) = 150 beats k >= 4 / (1.02 x 0.25) = 15.7;
  // at 150: (37.5 + 0.75) / 37.5 - 1 = 2% exactly.
  CHECK(a->feasible);
  CHECK(a->interval == 150);
  CHECK_NEAR(a->slowdown, 0.02);
  CHECK(PredictedSlowdown(*a, 0.25, 149) > 0.02);
}

TEST_CASE("tune: a budget that no interval satisfies says so") {
  TuneInputs in = Base();
  in.iteration_s = 0.25;
  in.copy_bytes_per_s = GiBps(4);  // a stall of 0.75 s per checkpoint, as above

  SECTION("the interval it needs is longer than the longest accepted") {
    in.max_interval = 100;  // 150 would do
    auto a = Recommend(in);
    REQUIRE(a.ok());
    CHECK(!a->feasible);
    CHECK(a->interval == 100);
    CHECK_NEAR(a->slowdown, 0.75 / 25);  // 3% at 100 iterations of 0.25 s
  }
  SECTION("a budget of zero allows no stall at all") {
    in.budget = 0;
    auto a = Recommend(in);
    REQUIRE(a.ok());
    CHECK(!a->feasible);
    CHECK(a->interval == 3600);
    CHECK(a->slowdown > 0);
    CHECK(std::isinf(a->pccheck_bound));
  }
  SECTION("a budget of zero without a stall is met by waiting out the spacing") {
    in.budget = 0;
    in.copy_bytes_per_s = GiBps(16);  // T_c = 0.25 s: no stall
    auto a = Recommend(in);
    REQUIRE(a.ok());
    CHECK(a->stall_s == 0);
    CHECK(a->feasible);
    CHECK(a->interval == 16);  // spacing 4 s / 0.25 s
    CHECK(a->slowdown == 0);
  }
}

TEST_CASE("tune: the pool's memory bounds the checkpoints in flight") {
  TuneInputs in = Base();

  SECTION("room for one checkpoint: N = 1, and one starts every L") {
    in.max_pool_bytes = 6 * kGiB;
    auto a = Recommend(in);
    REQUIRE(a.ok());
    CHECK(a->wanted_inflight == 2);
    CHECK(a->max_inflight == 1);
    CHECK(a->pool_limited);
    CHECK(a->pool_bytes == 4 * kGiB);
    CHECK(a->snapshot_s == 0.5);
    CHECK(a->spacing_s == a->lifetime_s);  // L / 1 > T_w
    // k >= L / 1.02 = 3.94: 4 iterations, slowdown L / 4 - 1.
    CHECK(a->interval == 4);
    CHECK_NEAR(a->slowdown, a->lifetime_s / 4 - 1);
  }
  SECTION("room for less than one: the snapshot waits for the disk") {
    in.max_pool_bytes = 2 * kGiB;
    auto a = Recommend(in);
    REQUIRE(a.ok());
    CHECK(a->max_inflight == 1);
    CHECK(a->pool_bytes == 2 * kGiB);
    // The 2 GiB beyond the pool go at the write rate: 2 s > T_c.
    CHECK(a->snapshot_s == 2.0);
    CHECK(a->stall_s == 1.0);
    // k >= 1 / (0.02 x 1) = 50.
    CHECK(a->interval == 50);
    CHECK_NEAR(a->slowdown, 0.02);
  }
  SECTION("a pool below two chunks is refused, naming the option") {
    in.max_pool_bytes = 16 * kMiB;
    auto a = Recommend(in);
    REQUIRE(!a.ok());
    CHECK(a.status().message().find("max-pool") != std::string::npos);
  }
  SECTION("ranks share the pool: two ranks of 4 GiB in 12 GiB fit once") {
    in.ranks = 2;
    in.max_pool_bytes = 12 * kGiB;
    auto a = Recommend(in);
    REQUIRE(a.ok());
    CHECK(a->round_bytes == 8.0 * kGiB);
    CHECK(a->persist_s == 8.0);
    CHECK(a->max_inflight == 1);
    CHECK(a->pool_bytes == 8 * kGiB);
  }
}

TEST_CASE("tune: the cheapest sweep point within 5% of the fastest wins") {
  TuneInputs in = Base();
  in.writes = {{1, 16 * kMiB, GiBps(0.5)}, {2, 16 * kMiB, GiBps(0.9)},
               {4, 16 * kMiB, GiBps(1.0)}, {8, 16 * kMiB, GiBps(1.02)},
               {4, 4 * kMiB, GiBps(0.97)}, {4, 64 * kMiB, GiBps(1.01)}};
  auto a = Recommend(in);
  REQUIRE(a.ok());
  // The best is 1.02; 0.97 is within 5% of it, with 4 threads and 4 MiB.
  CHECK(a->writers == 4);
  CHECK(a->chunk_bytes == 4 * kMiB);
  CHECK(a->write_bytes_per_s == GiBps(0.97));
}

TEST_CASE("tune: two writers rather than one when they are as fast") {
  TuneInputs in = Base();
  in.writes = {{1, 16 * kMiB, GiBps(1.0)}, {2, 16 * kMiB, GiBps(0.97)}};
  auto a = Recommend(in);
  REQUIRE(a.ok());
  CHECK(a->writers == 2);
  // But not when the second is clearly slower (a disk that wants one stream).
  in.writes = {{1, 16 * kMiB, GiBps(1.0)}, {2, 16 * kMiB, GiBps(0.5)}};
  a = Recommend(in);
  REQUIRE(a.ok());
  CHECK(a->writers == 1);
  // Nor when the checkpoint is a single chunk.
  in.checkpoint_bytes = 16 * kMiB;
  in.writes = {{1, 16 * kMiB, GiBps(1.0)}, {2, 4 * kMiB, GiBps(0.99)}};
  a = Recommend(in);
  REQUIRE(a.ok());
  CHECK(a->writers == 1);
  CHECK(a->chunk_bytes == 16 * kMiB);
}

TEST_CASE("tune: writers beyond a checkpoint's chunks do not count") {
  TuneInputs in = Base();
  in.checkpoint_bytes = 8 * kMiB;
  in.writes = {{1, 4 * kMiB, GiBps(1)},
               {2, 4 * kMiB, GiBps(1.5)},
               {4, 4 * kMiB, GiBps(2)},    // 2 chunks of 4 MiB: 2 writers idle
               {4, 16 * kMiB, GiBps(2)}};  // 1 chunk
  auto a = Recommend(in);
  REQUIRE(a.ok());
  CHECK(a->writers == 2);
  CHECK(a->chunk_bytes == 4 * kMiB);
  CHECK(EffectiveWriteRate(in, in.writes[2]) == 0);
}

TEST_CASE("tune: checksums cost each writer time") {
  TuneInputs in = Base();
  in.checksum_bytes_per_s = GiBps(1);
  in.writes = {{1, 16 * kMiB, GiBps(4)}, {4, 16 * kMiB, GiBps(4)}};
  // One writer: 1 / (1/4 + 1/1) = 0.8 GiB/s; four: 1 / (1/4 + 1/4) = 2 GiB/s.
  CHECK_NEAR(EffectiveWriteRate(in, in.writes[0]), GiBps(0.8));
  CHECK_NEAR(EffectiveWriteRate(in, in.writes[1]), GiBps(2));
  auto a = Recommend(in);
  REQUIRE(a.ok());
  CHECK(a->writers == 4);
  CHECK(a->raw_write_bytes_per_s == GiBps(4));
}

TEST_CASE("tune: inputs out of range are refused, naming them") {
  auto refused = [](TuneInputs in, const std::string& word) {
    auto a = Recommend(in);
    INFO(word);
    REQUIRE(!a.ok());
    CHECK(a.status().code() == Code::kInvalidArgument);
    CHECK(a.status().message().find(word) != std::string::npos);
  };
  TuneInputs in = Base();
  in.checkpoint_bytes = 0;
  refused(in, "size");
  in = Base();
  in.iteration_s = 0;
  refused(in, "iteration-time");
  in = Base();
  in.budget = 1;
  refused(in, "budget");
  in = Base();
  in.writes.clear();
  refused(in, "write");
  in = Base();
  in.copy_bytes_per_s = 0;
  refused(in, "copy");
}

}  // namespace
}  // namespace pccheck::cli
