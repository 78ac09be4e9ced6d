// The arithmetic behind `pccheck tune`: measured rates in, pccheckd settings
// and the shortest checkpoint interval within a slowdown budget out. Pure:
// no I/O, no clock, so every case can be checked by hand (docs/tuning.md
// derives each formula; the symbols below are the ones used there).
//
//   S  checkpoint bytes of one rank       R  ranks on the node
//   t  iteration time                      q  slowdown budget (0.02 = 2%)
//   W  write rate, C  copy rate, M  most pinned memory for the pool
//
//   T_w = R·S / W          persist time: the disk writes one round of checkpoints
//   T_c = R·S / C          copy time: the snapshots of one round
//   L   = max(T_w, T_c) + chunk/C + chunk/W + commit    one checkpoint's life
//   N   = ceil(L / max(T_w, T_c)), at most what the pool holds
//   spacing = max(T_w, T_c, L / N)   how often a checkpoint can start
//   stall   = max(0, snapshot - t)    the optimizer step waits for the snapshot
//   slowdown(k) = max(k·t + stall, spacing) / (k·t) - 1
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"

namespace pccheck::cli {

// One point of the write sweep: plain parallel O_DIRECT writes.
struct WritePoint {
  int writers = 0;
  uint64_t chunk_bytes = 0;
  double bytes_per_s = 0;
};

struct TuneInputs {
  uint64_t checkpoint_bytes = 0;  // S: one rank's checkpoint
  int ranks = 1;                  // R: ranks of this node that save at the same steps
  double iteration_s = 0;         // t
  double budget = 0.02;           // q: allowed slowdown, 0 <= q < 1
  std::vector<WritePoint> writes;
  double copy_bytes_per_s = 0;      // C: node-wide rate of taking snapshots
  double checksum_bytes_per_s = 0;  // one writer thread's CRC32C rate; 0: not a limit
  double commit_s = 0;              // manifest and latest, each written, synced, renamed
  uint64_t max_pool_bytes = 0;      // M
  uint64_t max_interval = 0;        // longest interval accepted, in iterations (>= 1)
};

// Settings are within pccheckd's ranges: writers 1..256, max_inflight 1..64,
// chunk a multiple of 4 KiB, pool a multiple of chunk holding at least two.
struct TuneAdvice {
  // The recommendation, in pccheckd's settings.
  int writers = 0;
  uint64_t chunk_bytes = 0;
  int max_inflight = 0;
  uint64_t pool_bytes = 0;

  // What it rests on (seconds unless named otherwise).
  double raw_write_bytes_per_s = 0;  // the chosen sweep point as measured
  double write_bytes_per_s = 0;      // W: after the writers' checksums
  double round_bytes = 0;            // R·S
  double persist_s = 0;              // T_w
  double copy_s = 0;                 // T_c
  double lifetime_s = 0;             // L
  double spacing_s = 0;              // the shortest time between checkpoint starts
  double snapshot_s = 0;             // save() to snapshot done
  double stall_s = 0;                // per checkpoint, beyond the iteration it overlaps
  int wanted_inflight = 0;           // N before the pool's cap
  bool pool_limited = false;         // M holds fewer than wanted_inflight rounds

  // The interval: the shortest k (iterations) with slowdown(k) <= q, when
  // one up to max_interval exists (feasible); otherwise max_interval.
  bool feasible = false;
  uint64_t interval = 0;
  double slowdown = 0;  // predicted at `interval`
  // PCcheck's bound T_w / (N·q·t), in iterations: what counting the whole
  // persist time as slowdown (no overlap at all) would ask. Infinite when q = 0.
  double pccheck_bound = 0;
};

// InvalidArgument naming the input when one is out of range (no sweep
// point, a rate or time that is not positive, a budget outside [0, 1), a
// pool too small for two chunks).
Result<TuneAdvice> Recommend(const TuneInputs& in);

// The slowdown predicted for a checkpoint every k iterations of t seconds.
double PredictedSlowdown(const TuneAdvice& a, double iteration_s, uint64_t k);

// A sweep point's rate for this checkpoint: the raw rate with the writers'
// checksum time added; 0 when the point has more writers than one round of
// checkpoints has chunks (the extra writers would sit idle), or chunks the
// pool cannot hold two of.
double EffectiveWriteRate(const TuneInputs& in, const WritePoint& p);

}  // namespace pccheck::cli
