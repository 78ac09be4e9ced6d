// A real pccheckd for the GPU tests and benchmark: the build's
// daemon/pccheckd in a child process with its store and socket under a
// directory of ours, its log in a file there. Sizes are flags so that a test
// can make the pool larger or smaller than a checkpoint.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "pccheck/status.h"

namespace pccheck::testing {

struct GpuDaemonFlags {
  std::string pool = "2GiB";
  std::string chunk = "16MiB";
  int writers = 4;
  int max_inflight = 2;
  bool direct_io = true;  // refused by tmpfs: the daemon then writes buffered
  std::string policy = "block";
};

class GpuDaemon {
 public:
  // `dir` must exist and outlive the daemon.
  GpuDaemon(std::string dir, GpuDaemonFlags flags);
  ~GpuDaemon();  // SIGKILLs it if still running
  GpuDaemon(const GpuDaemon&) = delete;
  GpuDaemon& operator=(const GpuDaemon&) = delete;

  // Starts it and returns once it answers a status request (within 120 s:
  // pinning a large pool takes a while), or why it did not.
  Status Start();
  void Kill();  // SIGKILL, then reaps it
  // SIGTERM and reaps it: in-flight saves finish or are abandoned.
  void Stop();
  // Whether it still runs (reaps it if it died).
  bool Alive();

  std::string Log() const;
  const std::string& socket() const { return socket_; }
  const std::string& root() const { return root_; }

 private:
  void Reap();
  std::string socket_, root_, log_;
  GpuDaemonFlags flags_;
  pid_t pid_ = -1;
};

}  // namespace pccheck::testing
