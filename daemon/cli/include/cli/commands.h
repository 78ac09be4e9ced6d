// The `pccheck` commands. Each is a function of its options, so the parser
// (main.cc) stays separate from what a command does and a command can grow a
// new way to reach the store (a daemon's socket) without touching the others.
//
// Every Run* function prints its results on stdout and its problems on
// stderr, and returns the process exit code (kExit*). Option defaults live
// here, once; main.cc prints them in the help.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pccheck::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the command ran and found or hit a problem
inline constexpr int kExitUsage = 2;   // bad arguments or no store where one was named

struct BenchOptions {
  std::string root;              // store directory; created when missing (offline bench)
  std::string socket;            // a running pccheckd to drive instead (RunDaemonBench)
  int clients = 1;               // with socket: client processes saving at once
  uint64_t size = 0;             // bytes per checkpoint (required)
  uint64_t count = 0;            // checkpoints to save (required)
  int inflight = 2;              // checkpoints in flight at once (per client)
  bool inflight_given = false;   // with socket: false means the daemon's max_inflight
  uint64_t chunk = 16ull << 20;  // pipeline chunk, a multiple of 4 KiB
  int writers = 4;               // writer threads
  uint64_t pool = 0;             // pinned pool bytes; 0: DefaultBenchPool()
  std::string job = "bench";
  uint32_t rank = 0;
  uint64_t keep_every = 0;  // retention: keep steps that are multiples of this; 0: off
  uint64_t every_ms = 0;    // with socket: > 0 runs the trainer-shaped bench (RunTrainerBench)
  bool json = false;
  bool raw_only = false;  // offline: measure only the disk's write ceiling, size x count bytes
};

// Enough pool for every in-flight checkpoint, capped at 2 GiB, never below two
// chunks; a multiple of the chunk size.
uint64_t DefaultBenchPool(uint64_t size, int inflight, uint64_t chunk);

// Saves `count` checkpoints of `size` random bytes through the engine, printing
// "committed step=K" on stdout the moment each commits, then measures the
// disk's write ceiling (io/disk_ceiling.h) in the same directory for as many
// bytes, at the engine's chunk size, and prints a summary. With raw_only, only
// the ceiling, for size x count bytes.
int RunBench(const BenchOptions& options);

// The same measurement through a running pccheckd (options.socket), as its
// clients: `clients` processes, ranks rank..rank+clients-1 of job `job`, each
// saving `count` checkpoints of `size` bytes from shared memory, at most
// `inflight` in flight each. Prints "committed step=K" (" rank=R" added with
// several clients) as each commits, then measures the raw O_DIRECT rate of the
// daemon's store directory (from its status), which must be reachable from
// here: run it on the daemon's machine. The summary adds the p50 and p99 of
// the time each Client::Save call held its caller.
int RunDaemonBench(const BenchOptions& options);

// bench_trainer.cc: one client shaped like a trainer against the pccheckd at
// options.socket: `count` times, every_ms of simulated work (a sleep), then a
// save and a before_update, each timed. Prints (or, with json, one object
// with) saves_requested/committed/coalesced/skipped, hold_ms_p50/p99,
// copy_ms_p50, durable_lag_steps_max, wall_s and ideal_s (count x every_ms).
int RunTrainerBench(const BenchOptions& options);

struct StatusOptions {
  std::string socket;  // empty: DefaultSocketPath()
  bool json = false;   // print the daemon's JSON document unchanged
  double watch_s = 0;  // > 0: show it again every watch_s seconds until stopped
};

// Asks the daemon for its status and prints it. Exits kExitFailed, naming the
// socket and how to start pccheckd, when the daemon cannot be reached.
int RunStatus(const StatusOptions& options);

// list, verify and prune reach a store through exactly one of root and
// socket (cli/store_access.h): with root, the pccheckd that owns it when one
// runs there, else the directory itself.
struct TuneOptions {
  std::string root;           // empty: pccheckd's default store for this user
  uint64_t size = 0;          // bytes of one rank's checkpoint (required)
  double iteration_s = 0;     // seconds per training iteration (required)
  double budget = 0.02;       // allowed slowdown, a fraction
  int ranks = 1;              // ranks on this node saving at the same steps
  int device = -1;            // GPU whose copies to measure; -1: the first, if any
  uint64_t max_pool = 0;      // most pinned memory; 0: half of this machine's memory
  uint64_t max_interval = 0;  // longest interval, iterations; 0: one hour's worth
  bool quick = false;         // a few sweep points instead of 25
  double sweep_seconds = 0;   // time for the write sweep; 0: the plan's (20 s, quick 4 s)
  bool json = false;          // one JSON object on stdout
  bool print_config = false;  // only the pccheckd config lines on stdout
};

// Measures the store's write rate (a sweep of writer threads and chunk
// sizes), the snapshot copy rate, the checksum rate and the commit latency,
// then prints recommended pccheckd settings and the shortest checkpoint
// interval within the budget, with the reasoning (docs/tuning.md). Exits
// kExitFailed when a measurement fails or no interval up to max_interval
// keeps within the budget (the numbers are printed all the same).
int RunTune(const TuneOptions& options);

struct ListOptions {
  std::string root;    // an existing store directory
  std::string socket;  // or a running pccheckd
  bool json = false;
};

// Prints every checkpoint in the store, ring slots and kept ones (table, or
// a JSON array with --json).
int RunList(const ListOptions& options);

struct VerifyOptions {
  std::string root;    // an existing store directory
  std::string socket;  // or a running pccheckd
  bool all = false;    // every committed and kept checkpoint, not only each latest
  bool json = false;   // per-checkpoint results as one JSON object
};

// Re-reads the latest checkpoint of every job and rank (with all, every
// committed and kept one) and checks every chunk, with a progress bar over
// the bytes. Fails when a latest (or, with all, a kept) checkpoint is
// damaged; one superseded or pruned while being read is reported, not failed.
int RunVerify(const VerifyOptions& options);

// Which checkpoint export and restore read: straight from the store, without
// a daemon (safe beside a running one), every chunk verified.
struct ReadTarget {
  std::string root;  // an existing store directory
  std::string job;
  uint32_t rank = 0;
  std::optional<uint64_t> step;  // none: the newest committed that verifies
};

struct ExportOptions {
  ReadTarget from;
  std::string format;  // "safetensors" or "raw" (docs/export.md)
  std::string out;     // FILE; raw also writes FILE.json
  bool json = false;   // print a JSON summary instead of a sentence and a progress bar
};

// Writes the checkpoint to one file: safetensors, or the raw data stream plus
// FILE.json (tensor table, step, user blob). Written as FILE.tmp, synced and
// renamed: FILE is never half written.
int RunExport(const ExportOptions& options);

struct RestoreOptions {
  ReadTarget from;
  std::string out;     // a directory: created, or empty unless force
  bool force = false;  // write into a non-empty directory
};

// Writes the checkpoint as a directory: one file per tensor, user_blob.bin,
// and index.json last (a directory without it is incomplete).
int RunRestore(const RestoreOptions& options);
struct PruneOptions {
  std::string root;    // an existing store directory
  std::string socket;  // or a running pccheckd
  uint32_t keep = 0;   // kept checkpoints to leave per job and rank (required)
  std::optional<std::string> job;
  std::optional<uint32_t> rank;
  bool dry_run = false;
  bool json = false;
};

// Removes kept checkpoints beyond the newest `keep` of each job and rank
// (never ring slots or `latest`) and prints what it removed. Offline under
// the store lock; through the daemon when one holds it.
int RunPrune(const PruneOptions& options);

}  // namespace pccheck::cli
