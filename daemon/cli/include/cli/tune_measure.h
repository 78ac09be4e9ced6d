// What `pccheck tune` measures, each bounded in time and bytes: the store's
// raw write rate over a sweep of writer threads and chunk sizes, the
// snapshot copy rate (device to pinned host through the Gpu seam, or memcpy
// where tensors live in host memory), one thread's checksum rate, and the
// latency of the commit's small synced writes.
//
// Every function leaves nothing behind in `dir` (scratch files are removed,
// on failure too) and reports progress only through the Progress it is given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/progress.h"
#include "cli/tune_model.h"
#include "gpu/gpu.h"
#include "io/file_system.h"

namespace pccheck::cli {

struct SweepPlan {
  std::vector<int> writers;      // thread counts, ascending
  std::vector<uint64_t> chunks;  // chunk sizes, multiples of 4 KiB, ascending
  // quick: only `writers` at the middle chunk, then the other chunks at the
  // best thread count of that row.
  bool quick = false;
  double seconds = 20;  // time for the timed passes together
  uint64_t warmup_bytes = 256ull << 20;
  uint64_t max_point_bytes = 1ull << 30;
};

// The plans `pccheck tune` uses: 1..16 writers x 4..64 MiB, or --quick's
// handful of points.
SweepPlan FullSweep();
SweepPlan QuickSweep();

struct SweepResult {
  std::vector<WritePoint> points;  // measured, in the order taken
  int skipped = 0;                 // planned points left out (time, or bytes per pass)
  uint64_t point_bytes = 0;        // bytes each timed pass wrote
  bool direct = false;             // O_DIRECT was honoured
  uint64_t bytes_written = 0;      // everything, the warm-up included
};

// Writes a warm-up pass into a fresh scratch file in dir (its rate sizes the
// timed passes so that they fit plan.seconds), then one timed rewrite pass
// per point. A point whose writers x chunk exceeds the pass is skipped, as
// are points left when twice the planned time has gone by.
Result<SweepResult> SweepWrites(FileSystem* fs, const std::string& dir, const SweepPlan& plan,
                                Progress* progress);

struct CopyRate {
  double bytes_per_s = 0;        // into page-locked memory: what the pool is
  double plain_bytes_per_s = 0;  // host only: memcpy into ordinary memory
  bool gpu = false;              // device -> pinned host (else host memcpy)
  bool pinned = false;           // the destination was page-locked
};

// device >= 0: copies from device memory through gpu (which must have that
// device) into memory from gpu->AllocHost, chunk by chunk as the pipeline
// does. device < 0: memcpy from host memory, into gpu->AllocHost memory and
// into plain memory. `bytes` is rounded up to 4 KiB; the best of a few
// passes counts.
Result<CopyRate> MeasureCopy(Gpu* gpu, int device, uint64_t bytes, uint64_t chunk_bytes);

// One thread's CRC32C rate, bytes per second.
double MeasureChecksum(uint64_t bytes);

// Seconds for the commit's metadata writes (a 4 KiB manifest and a small
// `latest`, each written to a temporary file, synced, renamed, directory
// synced): the median of five.
Result<double> MeasureCommit(FileSystem* fs, const std::string& dir);

}  // namespace pccheck::cli
