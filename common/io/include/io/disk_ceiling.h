// The disk's ceiling: the reference every bench compares pccheck against.
//
// "How fast can this disk take (or give back) these bytes with no checkpoint
// logic on top?" answered honestly, as the best of several parallel O_DIRECT
// stream counts (1, 2, 4 and 8 by default), each moving all the bytes in
// blocks of the engine's chunk size. A checkpoint rate above the ceiling
// means the ceiling was measured wrong, not that pccheck beat the disk.
//
// Writes: stream i writes its own scratch file in `dir` (preallocated with
// fallocate, then written sequentially and fdatasynced by the stream itself,
// as parallel `dd oflag=direct conv=fdatasync` runs do), twice: into freshly
// allocated blocks, then over the blocks the first pass wrote. The two are
// reported separately, as a new store's first checkpoints write fresh
// blocks and a store in steady state rewrites them. Reads: the given files,
// block by block, taken by the streams from one shared queue and again in
// one contiguous span per stream.
//
// Thread-safety: each call runs its own threads and returns when they are
// done; calls on the same directory must not overlap.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "io/file_system.h"

namespace pccheck {

// The stream counts tried unless told otherwise.
inline const std::vector<int>& DefaultCeilingStreams() {
  static const std::vector<int> kStreams = {1, 2, 4, 8};
  return kStreams;
}

struct CeilingPoint {
  int streams = 0;
  double fresh_seconds = 0;    // writes: first write to the end of every stream's fdatasync
  double rewrite_seconds = 0;  // writes: the same over written blocks; reads: 0
  double read_seconds = 0;     // reads: first read to the last block read; writes: 0
};

// Best rate and the stream count that reached it.
struct CeilingBest {
  double gbps = 0;
  int streams = 0;
};

struct WriteCeiling {
  uint64_t bytes = 0;        // written per pass, per stream count (>= the bytes asked for)
  uint64_t block_bytes = 0;  // each write's size
  bool direct = false;       // false where the file system refused O_DIRECT (tmpfs)
  std::vector<CeilingPoint> points;
  CeilingBest fresh() const;    // best over the fresh passes
  CeilingBest rewrite() const;  // best over the rewrite passes
  CeilingBest best() const;     // the better of the two: the ceiling
  // Keeps, per stream count, the faster of this and `again` (the same bytes
  // and block measured at another time): a disk whose rate drifts over a
  // run is held to the best it showed.
  void Merge(const WriteCeiling& again);
};

struct ReadCeiling {
  uint64_t bytes = 0;  // read per stream count
  uint64_t block_bytes = 0;
  bool direct = false;
  std::vector<CeilingPoint> points;
  CeilingBest best() const;
  void Merge(const ReadCeiling& again);  // as WriteCeiling::Merge
};

// Measures the write ceiling of `dir` for at least `bytes` (rounded up so
// each stream writes whole blocks of block_bytes, a multiple of 4 KiB) with
// each of `streams`. Needs about `bytes` of free space at a time. Scratch
// files are named .pccheck-raw-ceiling-<i>.tmp (plainly scratch if a killed
// run leaves them) and removed before return, on failure too.
Result<WriteCeiling> MeasureWriteCeiling(FileSystem* fs, const std::string& dir, uint64_t bytes,
                                         uint64_t block_bytes,
                                         const std::vector<int>& streams = DefaultCeilingStreams());

// Reads all of `paths` twice per stream count with O_DIRECT (buffered where
// refused, and then direct is false) in blocks of block_bytes (a multiple of
// 4 KiB): once with the streams taking blocks from one shared queue, once
// with each stream reading its own contiguous span; the faster counts. The
// files must not change meanwhile.
Result<ReadCeiling> MeasureReadCeiling(FileSystem* fs, const std::vector<std::string>& paths,
                                       uint64_t block_bytes,
                                       const std::vector<int>& streams = DefaultCeilingStreams());

// Adds raw_bytes, raw_block_bytes, raw_o_direct, raw_seconds (the winning
// pass), raw_streams, raw_fresh_gbps, raw_fresh_streams, raw_rewrite_gbps,
// raw_rewrite_streams and raw_sweep (every point) to a bench summary; the
// ceiling's own rate (best().gbps) is the caller's to name. Returns j.
JsonObject& AddWriteCeilingFields(JsonObject& j, const WriteCeiling& c);
// Adds raw_read_gbps, raw_read_streams, raw_read_bytes, raw_read_block_bytes,
// raw_read_direct and raw_read_sweep. Returns j.
JsonObject& AddReadCeilingFields(JsonObject& j, const ReadCeiling& c);

}  // namespace pccheck
