// FaultFileSystem: a FileSystem wrapper for tests that fails chosen calls and
// simulates power loss (after leveldb's fault_injection_test and rocksdb's
// FaultInjectionTestFS).
//
// It passes every call to `base` and, for the tree under `root`, records what a
// power loss would keep:
//   - a file's data is durable as of its last successful Sync (captured by
//     reading the file back just before the base's fdatasync);
//   - a directory entry (creation, rename, removal) is durable as of the last
//     successful SyncDir of its directory.
// PowerLoss() rewrites the tree on `base` to that durable state.
//
// Simplifications (real file systems may keep more, never less):
//   - directories are durable as soon as they are created, removed or renamed;
//   - a file is known by the identity it had when first seen; hard links are
//     not modelled, and a file renamed into root from outside counts as new;
//   - File::Size, List and Exists are never faulted.
//
// Thread-safety: every call may come from many threads at once, except
// PowerLoss, which REQUIRES that no other call is in flight. The lock is not
// held during the base's data I/O (WriteAt, ReadAt, Sync), so writer threads
// run in parallel. Files returned by Open must not outlive this object.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "io/file_system_wrapper.h"

namespace pccheck {

class FaultFileSystem : public FileSystemWrapper {
 public:
  // Wraps base (not owned; must outlive this); tracks everything under root.
  // Files already under root now count as durable, with their current content.
  FaultFileSystem(FileSystem* base, std::string root);
  ~FaultFileSystem() override;

  enum class Op {
    kOpen,
    kWrite,
    kRead,
    kSync,
    kSyncDir,
    kRename,
    kRemove,
    kAllocate,
    kTruncate,
    kCreateDirs
  };
  static constexpr int kNumOps = 10;
  static const char* OpName(Op op);

  // kEio and kEnospc fail the call with no effect (Code::kIoError, kNoSpace).
  // kShortWrite makes a WriteAt write about half of its bytes (rounded down to
  // kDirectAlign for an O_DIRECT file), then fail with IoError "short write"
  // naming the file; on any other op it acts as kEio.
  enum class Fault { kEio, kEnospc, kShortWrite };

  // Fails the nth (1-based, counted from this call) call of `op` whose path
  // contains path_substr (empty: any path; Rename matches either path) with
  // `fault`. One-shot unless sticky: then that call and every later matching
  // call fail. Several rules may be armed at once; each counts on its own.
  void FailNth(Op op, int n, Fault fault, std::string path_substr = "", bool sticky = false);
  void ClearFaults();

  // Sync points are the calls whose durability effect a crash can split:
  // File::Sync, SyncDir and Rename. Every such call made before a crash
  // counts, failed or not, including the one the crash happens at.
  int sync_points() const;
  // Power fails just before the nth (1-based, from now) sync point: that call
  // and every later call of any kind fail with EIO "simulated power loss" and
  // have no effect (Exists answers false). n <= 0 disarms a pending crash.
  void CrashAtSyncPoint(int n);
  bool crashed() const;

  // Rewrites the tree under root on the base file system to what was durable
  // (see above): unsynced data dropped, undurable creations removed, renames
  // and removals that were not dir-synced undone. Then clears the crashed
  // state and the faults, so the tree can be reopened and recovered. Files
  // opened before fail every call afterwards. Works whether or not crashed().
  // REQUIRES: no other call in flight.
  Status PowerLoss();

  // A slow disk. Every WriteAt on a path containing path_substr first waits
  // while writes are held (an explicit gate: tests release it, never time),
  // then sleeps delay_us (for benchmarks and soak runs only). Data files by
  // default, so that manifests and `latest` still commit.
  void HoldWrites(bool hold, std::string path_substr = ".data");
  void SetWriteDelay(uint64_t delay_us);
  // Blocks until at least n writes wait on the gate.
  void WaitHeldWrites(int n);
  int held_writes() const;

  int open_files() const;       // File objects from Open currently alive
  uint64_t calls(Op op) const;  // calls made of op, failed ones included

  // FileSystem.
  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override;
  Status CreateDirs(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Result<std::vector<DirEntry>> List(const std::string& dir) override;
  bool Exists(const std::string& path) override;

 private:
  friend class FaultFile;
  // Applies HoldWrites and SetWriteDelay to a write of `path`.
  void SlowWrite(const std::string& path);

  struct Rule {
    Op op;
    int countdown;  // matching calls left until it fires
    Fault fault;
    std::string path_substr;
    bool sticky;
  };
  // What Admit decided about a call.
  struct Verdict {
    Status status;             // non-ok: fail the call with it, no effect
    bool short_write = false;  // WriteAt: write half, then fail
  };

  // Counts the call, applies a crash and the fault rules; `call` and the
  // paths name it in messages. `generation` is a file's (stale files fail),
  // kNoGeneration for calls on the file system. REQUIRES: mu_ held.
  static constexpr uint64_t kNoGeneration = ~uint64_t{0};
  Verdict AdmitLocked(Op op, const char* call, const std::string& path,
                      const std::string& path2 = "", uint64_t generation = kNoGeneration);
  // For File calls: locks, then AdmitLocked.
  Verdict AdmitFile(Op op, const char* call, const std::string& path, uint64_t generation);
  // Fails when crashed or the file is stale, without counting a call.
  Status CheckAlive(const char* call, const std::string& path, uint64_t generation);
  Status CheckAliveLocked(const std::string& what, uint64_t generation);
  // Absolute, lexically normal, no trailing slash: the key of every map.
  static std::string Normalize(const std::string& path);
  bool UnderRoot(const std::string& normalized) const;
  // Record files found on base (not created through us) as durable, with
  // their current content. REQUIRES: mu_ held.
  void AdoptTreeLocked(const std::string& dir);
  void AdoptFileLocked(const std::string& path);
  // Renames the keys of m under directory `from` to `to`. REQUIRES: mu_ held.
  void MoveTreeLocked(std::map<std::string, uint64_t>& m, const std::string& from,
                      const std::string& to);
  // Called by FaultFile::Sync after the base synced the content it captured
  // at seq; an older capture never replaces a newer one.
  void CommitSync(uint64_t id, uint64_t seq, uint64_t generation, std::string content);

  FileSystem* const base_;
  const std::string root_;  // normalized

  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::atomic<uint64_t> next_seq_{1};              // orders captures so an older one never wins
  uint64_t generation_ = 0;                        // bumped by PowerLoss; older files are dead
  std::map<std::string, uint64_t> current_;        // path -> id, as on base now
  std::map<std::string, uint64_t> durable_names_;  // path -> id after power loss
  std::map<std::string, uint64_t> dir_seq_;        // dir -> seq of its last SyncDir
  std::map<uint64_t, std::string> durable_data_;   // id -> content as of last Sync
  std::map<uint64_t, uint64_t> data_seq_;          // id -> seq of that Sync
  std::vector<Rule> rules_;
  uint64_t calls_[kNumOps] = {};
  int sync_points_ = 0;
  int crash_at_ = 0;  // sync point number the power fails at; 0: none
  bool crashed_ = false;
  std::atomic<int> open_files_{0};

  mutable std::mutex slow_mu_;  // the write gate; never held with mu_
  std::condition_variable slow_cv_;
  bool hold_writes_ = false;
  std::string hold_substr_;
  int held_writes_ = 0;
  std::atomic<uint64_t> write_delay_us_{0};
};

}  // namespace pccheck
