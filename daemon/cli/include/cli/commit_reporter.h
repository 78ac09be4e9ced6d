// Tells the world, the moment each checkpoint of `pccheck bench` commits.
//
// A process that kills the bench (the demo, the crash tests) reads stdout
// through a pipe and trusts every "committed step=K" line it got as an
// acknowledged checkpoint, so a line is printed and flushed only after the
// engine reported the commit, and once per step. Failures go to stderr as
// "failed step=K: <status>".
//
// Engine callbacks must not block, so Done() only queues; a thread of this
// class prints. Thread-safety: Done() and Counts() may be called from any
// thread; Finish() once, from the owner.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "base/status.h"

namespace pccheck::cli {

class CommitReporter {
 public:
  struct Counts {
    uint64_t committed = 0;
    uint64_t superseded = 0;         // abandoned because a newer step committed first
    uint64_t failed = 0;             // any other failure
    double last_commit_seconds = 0;  // since construction
  };

  // progress: also print a progress line on stderr about every two seconds.
  explicit CommitReporter(bool progress);
  ~CommitReporter();  // calls Finish()
  CommitReporter(const CommitReporter&) = delete;
  CommitReporter& operator=(const CommitReporter&) = delete;

  // Records the outcome of `step`; later reports of the same step are ignored.
  void Done(uint64_t step, const Status& status);
  // Prints what is queued and stops the thread.
  void Finish();
  Counts counts();

 private:
  struct Event {
    uint64_t step;
    Status status;
  };
  void Loop();
  double Elapsed() const;

  const bool progress_;
  const double start_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  std::set<uint64_t> seen_;
  Counts counts_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pccheck::cli
