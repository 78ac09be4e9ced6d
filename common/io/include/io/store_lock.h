// StoreLock: one writer per store. A process that changes a store (pccheckd,
// `pccheck bench --root`, `pccheck prune`) holds an exclusive flock on
// <root>/.pccheckd.lock for as long as it may write; a second writer is
// refused, with a message naming the holder, instead of two processes
// recycling the same slots.
//
// The lock file says who holds it, one `key=value` per line:
//   pid=<pid>          the holder's process id
//   socket=<path>      its control socket, empty when it has none (bench, prune)
//   owner=<what>       "pccheckd", "pccheck bench", "pccheck prune"
// Readers (list, verify) never take the lock: they read the file
// (ReadStoreLockHolder) to find a daemon to ask instead of the disk. The file
// of a holder that was killed stays behind with stale content; a reader checks
// the socket (a daemon answers it) before believing it.
//
// flock, unlike the data path, does not go through FileSystem: a lock belongs
// to an open file description for the life of the process, which is nothing a
// fault-injecting file system could model or a test would want to fake.
//
// Thread-safety: a StoreLock is owned by one thread; the functions are
// thread-safe.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/fd.h"
#include "base/status.h"

namespace pccheck {

struct StoreLockHolder {
  pid_t pid = 0;
  std::string socket;  // empty: the holder takes no requests
  std::string owner;
  bool operator==(const StoreLockHolder&) const = default;
};

// "<root>/.pccheckd.lock".
std::string StoreLockPath(const std::string& root);

// The lock file's content for `h`, and back. Parsing skips unknown keys and
// malformed lines (a reader may catch the holder mid-write).
std::string FormatStoreLockHolder(const StoreLockHolder& h);
StoreLockHolder ParseStoreLockHolder(const std::string& text);

// What the lock file of `root` says. NotFound when there is none (no writer
// ran, or the last one exited cleanly); Corruption, naming what is there, when
// it is not a regular file (a FIFO is never waited on, a link never
// followed). Says nothing about whether the holder still runs.
Result<StoreLockHolder> ReadStoreLockHolder(const std::string& root);

class StoreLock {
 public:
  // Takes the lock of the existing directory `root` without waiting and
  // writes `me` into the lock file. Busy, naming the holder's owner, pid and
  // socket and what to do, when another open file description holds it (in
  // this process or another); NotFound when root does not exist; Corruption
  // when something other than a regular file is in the lock file's place.
  static Result<StoreLock> TryAcquire(const std::string& root, const StoreLockHolder& me);

  StoreLock() = default;
  StoreLock(StoreLock&&) = default;
  StoreLock& operator=(StoreLock&& o) noexcept;
  ~StoreLock();  // Release()

  // Removes the lock file (while still holding it) and drops the lock.
  // Idempotent.
  void Release();
  bool held() const { return fd_.valid(); }
  const std::string& path() const { return path_; }

 private:
  StoreLock(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Fd fd_;
  std::string path_;
};

}  // namespace pccheck
