// The engine's settings. Their keys, flags and meanings for users are declared
// once in the settings table (config/settings.h); this struct is what the
// engine reads. Its initializers are the settings' defaults: the table has no
// numbers of its own but renders these (a plain EngineOptions is pccheckd's
// default engine, root aside), so the engine cannot default differently from
// what --help and docs/settings.md say.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace pccheck {

// What a save does when the disk cannot keep up (docs/design-notes.md,
// "The memory tier").
enum class Policy {
  // The default. Every save that the pool can take whole is snapshotted into
  // memory at copy speed; the writers persist the newest complete snapshot of
  // each job and rank, and one superseded before its writing began ends
  // coalesced (not an error). A save the pool cannot take whole even after
  // reclaiming superseded snapshots waits for memory before its copy starts
  // (never midway); a pool of two snapshots per rank never makes it wait.
  kCoalesce,
  kBlock,  // every save is persisted: wait until a slot and pool memory free up
  kSkip,   // refuse at once with kBusy and a reason when the pool cannot take
           // the snapshot whole or max_inflight saves are in flight
};

const char* PolicyName(Policy p);
Result<Policy> ParsePolicy(const std::string& s);

struct EngineOptions {
  std::string root;                    // the store directory
  uint64_t pool_bytes = 4ull << 30;    // page-locked host memory for all saves
  uint64_t chunk_bytes = 64ull << 20;  // pipeline unit; a multiple of 4096
  int writers = 4;                     // writer (and restore reader) threads
  // Threads that checksum memory-tier snapshots as they land in the pool and
  // verify them when restored from memory; 0 picks half the online cores
  // (1 to 8). A snapshot is a recovery point, and can be superseded, only once
  // every chunk is checksummed, so these must keep up with the copy.
  int checksum_threads = 0;
  int max_inflight = 2;  // per job/rank; the store keeps N+1 slots
  Policy policy = Policy::kCoalesce;
  bool direct_io = true;  // O_DIRECT for data files
  // Written chunks keep their bytes until the pool needs them, so restoring
  // the newest commit soon after it reads memory instead of disk.
  bool keep_resident = true;
  // Retention: a checkpoint whose step is a multiple of keep_every is moved
  // to kept/ when its ring slot is reused, instead of being overwritten; 0: off.
  uint64_t keep_every = 0;
  // A save may be at most this many steps newer than the newest committed
  // step of its job and rank (than 0 before the first commit), so one bad
  // step number (2^64-1) cannot leave a job where no later save is newer;
  // 0: no bound.
  uint64_t max_step_jump = 1'000'000'000;
  // Inspect a store without changing it (offline tools next to a running
  // daemon): recovery removes nothing and saves are refused.
  bool read_only = false;

  // Names the first bad setting and the accepted range.
  Status Validate() const;
  // checksum_threads, with 0 resolved to its automatic value.
  int ChecksumThreadCount() const;
};

}  // namespace pccheck
