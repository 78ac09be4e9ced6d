// The `pccheck` commands. Each is a function of its options, so the parser
// (main.cc) stays separate from what a command does and a command can grow a
// new way to reach the store (a daemon's socket) without touching the others.
//
// Every Run* function prints its results on stdout and its problems on
// stderr, and returns the process exit code (kExit*). Option defaults live
// here, once; main.cc prints them in the help.
#pragma once

#include <cstdint>
#include <string>

namespace pccheck::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the command ran and found or hit a problem
inline constexpr int kExitUsage = 2;   // bad arguments or no store where one was named

struct BenchOptions {
  std::string root;              // store directory; created when missing
  uint64_t size = 0;             // bytes per checkpoint (required)
  uint64_t count = 0;            // checkpoints to save (required)
  int inflight = 2;              // checkpoints in flight at once
  uint64_t chunk = 16ull << 20;  // pipeline chunk, a multiple of 4 KiB
  int writers = 4;               // writer threads (and raw-write threads)
  uint64_t pool = 0;             // pinned pool bytes; 0: DefaultBenchPool()
  std::string job = "bench";
  uint32_t rank = 0;
  bool json = false;
};

// Enough pool for every in-flight checkpoint, capped at 2 GiB, never below two
// chunks; a multiple of the chunk size.
uint64_t DefaultBenchPool(uint64_t size, int inflight, uint64_t chunk);

// Saves `count` checkpoints of `size` random bytes through the engine, printing
// "committed step=K" on stdout the moment each commits, then measures the raw
// O_DIRECT write rate of the same directory and prints a summary.
int RunBench(const BenchOptions& options);

struct ListOptions {
  std::string root;  // an existing store directory
  bool json = false;
};

// Prints every checkpoint in the store (table, or a JSON array with --json).
int RunList(const ListOptions& options);

struct VerifyOptions {
  std::string root;  // an existing store directory
};

// Re-reads every committed checkpoint and checks every chunk. Succeeds only
// when every `latest` checkpoint verifies; names each problem it finds.
int RunVerify(const VerifyOptions& options);

}  // namespace pccheck::cli
