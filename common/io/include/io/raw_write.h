// What `pccheck tune` sweeps: how fast this directory's disk takes plain
// parallel O_DIRECT writes into one file, with no checkpoint logic on top.
// (The reference that benches compare against is io/disk_ceiling.h.)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "io/file_system.h"

namespace pccheck {

inline constexpr uint64_t kRawBlockBytes = 16ull << 20;

// A scratch file for timing raw writes again and again with different
// thread counts and block sizes (the tune sweep). Its name starts with a dot
// and ends in .tmp: never a job directory, plainly scratch if a killed run
// leaves it behind. Removed by Close() or the destructor.
//
// Thread-safety: one thread calls its methods; Pass runs its own writers.
class RawWriteFile {
 public:
  // Creates (or truncates) the scratch file in `dir`, opened O_DIRECT where
  // the file system allows it, and preallocates `bytes` (rounded up to 4 KiB).
  static Result<std::unique_ptr<RawWriteFile>> Create(FileSystem* fs, const std::string& dir,
                                                      uint64_t bytes);
  ~RawWriteFile();  // Close(), its status dropped
  RawWriteFile(const RawWriteFile&) = delete;
  RawWriteFile& operator=(const RawWriteFile&) = delete;

  // Preallocates up to `bytes` (rounded up to 4 KiB); never shrinks.
  Status Reserve(uint64_t bytes);
  // Writes [offset, offset + bytes) (offset and bytes multiples of 4 KiB,
  // inside the reservation) in blocks of block_bytes taken by `writers`
  // threads, then fdatasyncs. Returns the seconds from the first write to
  // the end of the sync. on_block, when set, is called from the writer
  // threads with each block's size once it is written. On failure the other
  // writers stop after their current block.
  Result<double> Pass(uint64_t offset, uint64_t bytes, int writers, uint64_t block_bytes,
                      const std::function<void(uint64_t)>& on_block = {});
  // Closes and removes the file; idempotent.
  Status Close();

  bool direct() const { return direct_; }
  uint64_t reserved() const { return reserved_; }
  const std::string& path() const { return path_; }

 private:
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  RawWriteFile(FileSystem* fs, std::string path, std::unique_ptr<File> file);

  FileSystem* const fs_;
  const std::string path_;
  std::unique_ptr<File> file_;  // null once closed
  const bool direct_;
  uint64_t reserved_ = 0;
  std::unique_ptr<uint8_t, FreeDeleter> block_;  // random bytes, shared by the writers
  uint64_t block_bytes_ = 0;
};

}  // namespace pccheck
