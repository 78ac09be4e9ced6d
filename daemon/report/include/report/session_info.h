// SessionInfo: what the status document says of one connected client. The
// server fills it in (Session::Info); the report layer renders it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pccheck {

struct SessionInfo {
  uint64_t id = 0;
  std::string job;
  uint32_t rank = 0;
  pid_t pid = 0;
  uid_t uid = 0;
  int64_t connected_at = 0;  // wall seconds
  uint64_t saves = 0;
  uint64_t table_bytes = 0;
  int inflight = 0;
  // Where its registered tensors live: GPU device ids (each once, in order
  // of registration), and whether any are in host memory.
  std::vector<int> devices;
  bool host_tensors = false;
};

}  // namespace pccheck
