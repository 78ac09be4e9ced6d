// FileSystem: the only place pccheck touches files.
//
// The store, the commit protocol and restore reach the disk only through this
// interface, so tests can swap in FaultFileSystem (fault_file_system.h), which
// fails chosen calls and simulates power loss.
//
// Thread-safety: a FileSystem may be used from many threads at once. A File may
// be used from many threads at once for ReadAt/WriteAt at disjoint ranges;
// Sync/Allocate/Close are serialized by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace pccheck {

// Alignment that O_DIRECT needs for buffers, offsets and lengths.
inline constexpr size_t kDirectAlign = 4096;

inline constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct OpenOptions {
  bool write = false;   // open read-write (else read-only)
  bool create = false;  // create when missing (implies write)
  bool truncate = false;
  // Bypass the page cache. Buffers, offsets and sizes must then be multiples of
  // kDirectAlign. Where the file system refuses O_DIRECT (tmpfs), the file is
  // opened buffered and direct() reports false.
  bool direct = false;
  // For files of a store, which hold only regular files: open with
  // O_NONBLOCK | O_NOFOLLOW, so that a FIFO or a device in the store's place
  // never blocks and a symbolic link is never followed, and refuse anything
  // but a regular file with Corruption naming what is there instead.
  bool regular_only = false;
};

class File {
 public:
  virtual ~File() = default;
  File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Writes all n bytes at offset or fails; a short write is an IoError naming
  // the file. On failure the bytes on disk at that range are unspecified.
  virtual Status WriteAt(const void* data, size_t n, uint64_t offset) = 0;
  // Reads up to n bytes; *got < n only at end of file.
  virtual Status ReadAt(void* data, size_t n, uint64_t offset, size_t* got) = 0;
  // fdatasync: every byte written so far is durable when this returns ok.
  // After a failed Sync the file's durable content is unknown: never retry
  // and then report success.
  virtual Status Sync() = 0;
  // Reserves space (fallocate) so later writes cannot fail with ENOSPC.
  virtual Status Allocate(uint64_t size) = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() = 0;
  virtual bool direct() const = 0;
  virtual const std::string& path() const = 0;
};

struct DirEntry {
  std::string name;
  bool is_dir = false;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) = 0;
  // Creates the directory and any missing parents; ok when it exists.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Makes the directory's entries (creations, renames, removals) durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)); durable after SyncDir.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Result<std::vector<DirEntry>> List(const std::string& dir) = 0;
  virtual bool Exists(const std::string& path) = 0;

  // Conveniences built on the calls above.
  Result<std::string> ReadWholeFile(const std::string& path);
  // The whole of a store file (OpenOptions::regular_only), which its format
  // bounds to max_bytes: Corruption naming the path and both sizes when it
  // holds more, after reading at most max_bytes + 1 bytes.
  Result<std::string> ReadStoreFile(const std::string& path, uint64_t max_bytes);
  // Writes `data` to path.tmp, syncs it, renames it over path and syncs the
  // directory. When it returns ok the new content is durable; on failure the
  // old content (if any) is still in place, except when only the final
  // directory sync failed: then the new content is in place but may not
  // survive a power loss.
  Status WriteFileAtomic(const std::string& path, const std::string& data);
};

// The real file system (POSIX calls, O_DIRECT where supported).
std::unique_ptr<FileSystem> NewPosixFileSystem();

// "a FIFO", "a character device", ...: the type of a file by its st_mode, for
// messages about a file that should be a regular one.
const char* FileTypeName(unsigned mode);

std::string JoinPath(const std::string& a, const std::string& b);
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace pccheck
