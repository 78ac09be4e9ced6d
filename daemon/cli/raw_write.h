// The reference for `pccheck bench`: how fast this directory's disk takes
// plain parallel O_DIRECT writes, with no checkpoint logic on top.
#pragma once

#include <cstdint>
#include <string>

#include "io/file_system.h"
#include "util/status.h"

namespace pccheck::cli {

inline constexpr uint64_t kRawBlockBytes = 16ull << 20;

struct RawWriteResult {
  uint64_t bytes = 0;   // written and synced
  double seconds = 0;   // first write to the end of fdatasync, the faster of two passes
  bool direct = false;  // false where the file system refused O_DIRECT (tmpfs)
  double gbps() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0; }
};

// Writes `bytes` (rounded up to 4 KiB) of random data to a scratch file in
// `dir`, preallocated with fallocate, in blocks of kRawBlockBytes taken by
// `writers` threads, then fdatasyncs it; twice (fresh blocks, then rewritten
// ones), reporting the faster pass. The file is removed before return,
// on failure too.
Result<RawWriteResult> MeasureRawWrite(FileSystem* fs, const std::string& dir, uint64_t bytes,
                                       int writers);

}  // namespace pccheck::cli
