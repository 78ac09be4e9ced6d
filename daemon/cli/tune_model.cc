#include "cli/tune_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "io/file_system.h"

namespace pccheck::cli {

namespace {

// Rates within this fraction of the best count as equal: take the cheaper
// point (fewer threads, smaller chunks) rather than chase noise.
constexpr double kTie = 0.05;

uint64_t ChunksPerRound(const TuneInputs& in, uint64_t chunk) {
  return static_cast<uint64_t>(in.ranks) * ((in.checkpoint_bytes + chunk - 1) / chunk);
}

Status Check(const TuneInputs& in) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument(what); };
  if (in.checkpoint_bytes == 0) return bad("size: the checkpoint size must be at least 1 byte");
  if (in.ranks < 1) return bad("ranks: at least 1");
  if (!(in.iteration_s > 0) || !std::isfinite(in.iteration_s)) {
    return bad("iteration-time: must be a positive number of seconds");
  }
  if (!(in.budget >= 0 && in.budget < 1)) {
    return bad("budget: must be a fraction from 0 up to (not including) 1, such as 0.02 for 2%");
  }
  if (in.writes.empty()) return bad("no write rate was measured");
  for (const WritePoint& p : in.writes) {
    if (p.writers < 1 || p.writers > 256 || p.chunk_bytes == 0 ||
        p.chunk_bytes % kDirectAlign != 0 || !(p.bytes_per_s > 0)) {
      return bad("write sweep point (" + std::to_string(p.writers) + " writers, " +
                 std::to_string(p.chunk_bytes) + "-byte chunks) is not a measured rate");
    }
  }
  if (!(in.copy_bytes_per_s > 0)) return bad("copy rate: must be positive");
  if (!(in.checksum_bytes_per_s >= 0) || !(in.commit_s >= 0)) {
    return bad("checksum rate and commit time must not be negative");
  }
  if (in.max_interval < 1) return bad("max-interval: at least 1 iteration");
  return Status::Ok();
}

}  // namespace

double EffectiveWriteRate(const TuneInputs& in, const WritePoint& p) {
  if (static_cast<uint64_t>(p.writers) > ChunksPerRound(in, p.chunk_bytes)) return 0;
  if (p.chunk_bytes > in.max_pool_bytes / 2) return 0;  // the pool holds two chunks at least
  if (in.checksum_bytes_per_s <= 0) return p.bytes_per_s;
  // Each writer checksums a chunk, then writes it: a conservative sum of the
  // two times (on a fast disk, threads overlap one's checksum with another's
  // write and do a little better).
  return 1.0 / (1.0 / p.bytes_per_s + 1.0 / (p.writers * in.checksum_bytes_per_s));
}

double PredictedSlowdown(const TuneAdvice& a, double iteration_s, uint64_t k) {
  const double work = static_cast<double>(k) * iteration_s;
  return std::max(work + a.stall_s, a.spacing_s) / work - 1.0;
}

Result<TuneAdvice> Recommend(const TuneInputs& in) {
  PCC_RETURN_IF_ERROR(Check(in));
  TuneAdvice a;

  // Writers and chunk: the cheapest point within kTie of the best. A point
  // with more writers than a round has chunks, or chunks the pool cannot
  // hold two of, does not count. The sweep always measures one writer,
  // which every checkpoint keeps busy.
  uint64_t smallest = UINT64_MAX;
  for (const WritePoint& p : in.writes) smallest = std::min(smallest, p.chunk_bytes);
  if (in.max_pool_bytes / 2 < smallest) {
    return Status::InvalidArgument(
        "max-pool: " + std::to_string(in.max_pool_bytes) + " bytes hold fewer than two chunks of " +
        std::to_string(smallest) + ", the smallest measured; allow a larger pool");
  }
  std::vector<WritePoint> points = in.writes;
  std::sort(points.begin(), points.end(), [](const WritePoint& x, const WritePoint& y) {
    return x.writers != y.writers ? x.writers < y.writers : x.chunk_bytes < y.chunk_bytes;
  });
  double best = 0;
  for (const WritePoint& p : points) best = std::max(best, EffectiveWriteRate(in, p));
  if (best <= 0) {
    return Status::InvalidArgument(
        "every measured write point has more writers than a checkpoint of " +
        std::to_string(in.checkpoint_bytes) +
        " bytes has chunks, or chunks too big for the pool; measure with 1 writer too");
  }
  // Among those, two writers rather than one where a checkpoint has two
  // chunks to give them: the sweep's raw writers only write, while one
  // engine writer also checksums, waits for copies and frees chunks, and the
  // disk idles meanwhile.
  for (const bool single : {false, true}) {
    for (const WritePoint& p : points) {
      const double rate = EffectiveWriteRate(in, p);
      const bool ok_count = single || p.writers >= 2 || ChunksPerRound(in, p.chunk_bytes) < 2;
      if (a.writers == 0 && ok_count && rate >= best * (1 - kTie)) {
        a.writers = p.writers;
        a.chunk_bytes = p.chunk_bytes;
        a.raw_write_bytes_per_s = p.bytes_per_s;
        a.write_bytes_per_s = rate;
      }
    }
  }
  const double c = static_cast<double>(a.chunk_bytes);
  const double W = a.write_bytes_per_s, C = in.copy_bytes_per_s, t = in.iteration_s, q = in.budget;

  // One round: every rank's checkpoint of one step.
  a.round_bytes = static_cast<double>(in.ranks) * static_cast<double>(in.checkpoint_bytes);
  a.persist_s = a.round_bytes / W;
  a.copy_s = a.round_bytes / C;
  const double pace = std::max(a.persist_s, a.copy_s);  // copies and writes overlap
  a.lifetime_s = pace + c / C + c / W + in.commit_s;

  // In flight: enough that the latency of one checkpoint never holds back
  // the next while the pipeline could take it; the pool caps it.
  a.wanted_inflight =
      static_cast<int>(std::clamp(std::ceil(a.lifetime_s / pace - 1e-9), 1.0, 64.0));
  const uint64_t round_pool =
      static_cast<uint64_t>(in.ranks) * AlignUp(in.checkpoint_bytes, a.chunk_bytes);
  const uint64_t pool_cap = in.max_pool_bytes / a.chunk_bytes * a.chunk_bytes;  // >= 2 chunks
  const uint64_t rounds_in_pool = pool_cap / round_pool;
  a.max_inflight = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(a.wanted_inflight),
                                                       std::max<uint64_t>(rounds_in_pool, 1)));
  a.pool_limited = rounds_in_pool < static_cast<uint64_t>(a.wanted_inflight);
  a.pool_bytes = std::max<uint64_t>(
      std::min<uint64_t>(static_cast<uint64_t>(a.max_inflight) * round_pool, pool_cap),
      2 * a.chunk_bytes);

  // The snapshot: only the copy while the pool holds the whole round; else
  // the bytes beyond the pool wait for writes to free chunks.
  a.snapshot_s = a.copy_s;
  if (a.pool_bytes < round_pool) {
    a.snapshot_s = std::max(a.copy_s, (a.round_bytes - static_cast<double>(a.pool_bytes)) / W);
  }
  a.stall_s = std::max(0.0, a.snapshot_s - t);
  a.spacing_s = std::max(pace, a.lifetime_s / a.max_inflight);
  a.pccheck_bound =
      q > 0 ? a.persist_s / (a.max_inflight * q * t) : std::numeric_limits<double>::infinity();

  // The shortest interval: slowdown(k) <= q holds exactly when
  // k >= stall / (q·t) and k >= spacing / ((1 + q)·t).
  double needed = std::max(1.0, a.spacing_s / ((1 + q) * t));
  if (a.stall_s > 0) {
    needed =
        q > 0 ? std::max(needed, a.stall_s / (q * t)) : std::numeric_limits<double>::infinity();
  }
  a.feasible = needed <= static_cast<double>(in.max_interval) * (1 + 1e-12);
  if (a.feasible) {
    a.interval = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(needed * (1 - 1e-12))));
    // Rounding: step past a boundary the division put a hair too low.
    while (a.interval < in.max_interval && PredictedSlowdown(a, t, a.interval) > q + 1e-12) {
      ++a.interval;
    }
    a.feasible = PredictedSlowdown(a, t, a.interval) <= q + 1e-12;
  }
  if (!a.feasible) a.interval = in.max_interval;
  a.slowdown = PredictedSlowdown(a, t, a.interval);
  return a;
}

}  // namespace pccheck::cli
