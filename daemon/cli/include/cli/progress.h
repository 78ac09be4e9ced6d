// Progress: a one-line progress bar on stderr for long commands (verify,
// export, restore, tune).
//
// On a terminal it redraws one line ("verify  [#####.....]  1.2/4.0 GiB
// 310 MB/s") at most ten times a second; elsewhere (a pipe, a log file) it
// prints a plain line at most every 10% so logs stay short. stdout is never
// touched, so JSON output stays clean.
//
// Thread-safety: Add() may be called from any thread; the other methods from
// the thread that owns the bar.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace pccheck::cli {

class Progress {
 public:
  // total: the bytes (or items) expected; 0 when unknown. enabled=false makes
  // every call a no-op (for --json or --quiet).
  Progress(std::string label, uint64_t total, bool enabled = true);
  ~Progress();  // calls Finish()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Add(uint64_t done);
  void SetTotal(uint64_t total);
  // Ends the line (a terminal bar is replaced by its final state).
  void Finish();

 private:
  void Draw(bool final);

  const std::string label_;
  std::atomic<uint64_t> total_;
  std::atomic<uint64_t> done_{0};
  const bool enabled_;
  const bool tty_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;  // guards drawing
  std::chrono::steady_clock::time_point last_draw_{};
  int last_decile_ = -1;
  bool finished_ = false;
};

// "1.5 GiB", "320 MiB", "12 KiB", "17 B".
std::string HumanBytes(uint64_t bytes);

}  // namespace pccheck::cli
