#include "support/fault_file_system.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <thread>

namespace pccheck {
namespace {

using Op = FaultFileSystem::Op;

bool IsSyncPoint(Op op) { return op == Op::kSync || op == Op::kSyncDir || op == Op::kRename; }

bool HasPrefixDir(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (dir == "/" || path[dir.size()] == '/');
}

}  // namespace

// Counts every call through its file system, and on Sync captures the content
// that becomes durable.
class FaultFile final : public File {
 public:
  FaultFile(FaultFileSystem* fs, std::unique_ptr<File> base, uint64_t id, uint64_t generation)
      : fs_(fs), base_(std::move(base)), id_(id), generation_(generation) {
    ++fs_->open_files_;
  }
  ~FaultFile() override { --fs_->open_files_; }

  Status WriteAt(const void* data, size_t n, uint64_t offset) override {
    fs_->SlowWrite(path());
    auto v = fs_->AdmitFile(Op::kWrite, "pwrite", path(), generation_);
    if (!v.status.ok()) return v.status;
    if (!v.short_write) return base_->WriteAt(data, n, offset);
    size_t half = n / 2;
    if (base_->direct()) half -= half % kDirectAlign;
    if (half > 0) PCC_RETURN_IF_ERROR(base_->WriteAt(data, half, offset));
    return Status::IoError("short write " + path() + ": wrote " + std::to_string(half) + " of " +
                           std::to_string(n) + " bytes at offset " + std::to_string(offset) +
                           " (injected fault)");
  }

  Status ReadAt(void* data, size_t n, uint64_t offset, size_t* got) override {
    *got = 0;
    auto v = fs_->AdmitFile(Op::kRead, "pread", path(), generation_);
    if (!v.status.ok()) return v.status;
    return base_->ReadAt(data, n, offset, got);
  }

  Status Sync() override {
    auto v = fs_->AdmitFile(Op::kSync, "fdatasync", path(), generation_);
    if (!v.status.ok()) return v.status;
    // Capture before the base syncs: whatever was written before this call is
    // in the capture, and the base's fdatasync makes at least that durable.
    if (id_ == 0) return base_->Sync();  // outside root: nothing to record
    uint64_t seq = fs_->next_seq_++;
    std::string content;
    PCC_RETURN_IF_ERROR(ReadBack(&content));
    PCC_RETURN_IF_ERROR(base_->Sync());
    fs_->CommitSync(id_, seq, generation_, std::move(content));
    return Status::Ok();
  }

  Status Allocate(uint64_t size) override {
    auto v = fs_->AdmitFile(Op::kAllocate, "fallocate", path(), generation_);
    if (!v.status.ok()) return v.status;
    return base_->Allocate(size);
  }

  Status Truncate(uint64_t size) override {
    auto v = fs_->AdmitFile(Op::kTruncate, "ftruncate", path(), generation_);
    if (!v.status.ok()) return v.status;
    return base_->Truncate(size);
  }

  Result<uint64_t> Size() override {
    PCC_RETURN_IF_ERROR(fs_->CheckAlive("fstat", path(), generation_));
    return base_->Size();
  }

  bool direct() const override { return base_->direct(); }
  const std::string& path() const override { return base_->path(); }

 private:
  // Reads the whole file through the base handle, with an aligned buffer in
  // case it is O_DIRECT.
  Status ReadBack(std::string* out) {
    constexpr size_t kChunk = 1 << 20;
    struct Free {
      void operator()(void* p) const { std::free(p); }
    };
    std::unique_ptr<char, Free> buf(static_cast<char*>(std::aligned_alloc(kDirectAlign, kChunk)));
    if (!buf) return Status::Internal("fault fs: out of memory reading back " + path());
    for (uint64_t offset = 0;; offset += kChunk) {
      size_t got = 0;
      Status s = base_->ReadAt(buf.get(), kChunk, offset, &got);
      if (!s.ok()) return s.Annotate("fault fs read-back before fdatasync");
      out->append(buf.get(), got);
      if (got < kChunk) return Status::Ok();
    }
  }

  FaultFileSystem* const fs_;
  const std::unique_ptr<File> base_;
  const uint64_t id_;  // 0: not under root, not tracked
  const uint64_t generation_;
};

FaultFileSystem::FaultFileSystem(FileSystem* base, std::string root)
    : FileSystemWrapper(base), base_(base), root_(Normalize(root)) {
  std::lock_guard<std::mutex> lock(mu_);
  AdoptTreeLocked(root_);
}

FaultFileSystem::~FaultFileSystem() = default;

const char* FaultFileSystem::OpName(Op op) {
  switch (op) {
    case Op::kOpen:
      return "Open";
    case Op::kWrite:
      return "Write";
    case Op::kRead:
      return "Read";
    case Op::kSync:
      return "Sync";
    case Op::kSyncDir:
      return "SyncDir";
    case Op::kRename:
      return "Rename";
    case Op::kRemove:
      return "Remove";
    case Op::kAllocate:
      return "Allocate";
    case Op::kTruncate:
      return "Truncate";
    case Op::kCreateDirs:
      return "CreateDirs";
  }
  return "?";
}

void FaultFileSystem::FailNth(Op op, int n, Fault fault, std::string path_substr, bool sticky) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back(Rule{op, n, fault, std::move(path_substr), sticky});
}

void FaultFileSystem::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
}

int FaultFileSystem::sync_points() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sync_points_;
}

void FaultFileSystem::CrashAtSyncPoint(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = n > 0 ? sync_points_ + n : 0;
}

bool FaultFileSystem::crashed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return crashed_;
}

int FaultFileSystem::open_files() const { return open_files_.load(); }

uint64_t FaultFileSystem::calls(Op op) const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_[static_cast<int>(op)];
}

FaultFileSystem::Verdict FaultFileSystem::AdmitLocked(Op op, const char* call,
                                                      const std::string& path,
                                                      const std::string& path2,
                                                      uint64_t generation) {
  ++calls_[static_cast<int>(op)];
  const std::string what = std::string(call) + " " + path + (path2.empty() ? "" : " -> " + path2);
  if (Status s = CheckAliveLocked(what, generation); !s.ok()) return {s};
  if (IsSyncPoint(op) && ++sync_points_ == crash_at_) {
    crashed_ = true;
    crash_at_ = 0;
    return {Status::FromErrno(EIO, what + " (simulated power loss)")};
  }
  std::optional<Fault> fired;
  for (auto it = rules_.begin(); it != rules_.end();) {
    bool match = it->op == op && (path.find(it->path_substr) != std::string::npos ||
                                  path2.find(it->path_substr) != std::string::npos);
    if (!match || it->countdown-- > 1) {
      ++it;
      continue;
    }
    if (!fired) fired = it->fault;
    it = it->sticky ? it + 1 : rules_.erase(it);
  }
  if (!fired) return {};
  if (*fired == Fault::kShortWrite && op == Op::kWrite) return {Status::Ok(), true};
  int err = *fired == Fault::kEnospc ? ENOSPC : EIO;
  return {Status::FromErrno(err, what + " (injected fault)")};
}

FaultFileSystem::Verdict FaultFileSystem::AdmitFile(Op op, const char* call,
                                                    const std::string& path, uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  return AdmitLocked(op, call, path, "", generation);
}

Status FaultFileSystem::CheckAliveLocked(const std::string& what, uint64_t generation) {
  if (crashed_) return Status::FromErrno(EIO, what + " (simulated power loss)");
  if (generation != kNoGeneration && generation != generation_) {
    return Status::IoError(what + ": file opened before a simulated power loss");
  }
  return Status::Ok();
}

Status FaultFileSystem::CheckAlive(const char* call, const std::string& path, uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckAliveLocked(std::string(call) + " " + path, generation);
}

std::string FaultFileSystem::Normalize(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) p = path;
  std::string s = p.lexically_normal().generic_string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool FaultFileSystem::UnderRoot(const std::string& normalized) const {
  return HasPrefixDir(normalized, root_);
}

void FaultFileSystem::AdoptTreeLocked(const std::string& dir) {
  auto entries = base_->List(dir);
  if (!entries.ok()) return;  // root not created yet: nothing to adopt
  for (const DirEntry& e : *entries) {
    std::string path = JoinPath(dir, e.name);
    if (e.is_dir) {
      AdoptTreeLocked(path);
    } else {
      AdoptFileLocked(path);
    }
  }
}

void FaultFileSystem::AdoptFileLocked(const std::string& path) {
  auto content = base_->ReadWholeFile(path);
  if (!content.ok()) return;  // unreadable: leave it untracked
  uint64_t id = next_id_++;
  current_[path] = id;
  durable_names_[path] = id;
  durable_data_[id] = std::move(content).value();
}

void FaultFileSystem::CommitSync(uint64_t id, uint64_t seq, uint64_t generation,
                                 std::string content) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id == 0 || generation != generation_) return;
  uint64_t& last = data_seq_[id];
  if (seq <= last) return;  // a newer capture already committed
  last = seq;
  durable_data_[id] = std::move(content);
}

Result<std::unique_ptr<File>> FaultFileSystem::Open(const std::string& path,
                                                    const OpenOptions& opts) {
  const std::string p = Normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  auto v = AdmitLocked(Op::kOpen, "open", path);
  if (!v.status.ok()) return v.status;
  const bool tracked = UnderRoot(p);
  // A file put under root behind our back counts as durable, like those
  // found at construction.
  if (tracked && current_.count(p) == 0 && base_->Exists(path)) AdoptFileLocked(p);
  PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, base_->Open(path, opts));
  uint64_t id = 0;
  if (tracked) {
    auto [it, created] = current_.try_emplace(p, next_id_);
    if (created) ++next_id_;  // new, and durable nowhere until its dir syncs
    id = it->second;
  }
  return std::unique_ptr<File>(new FaultFile(this, std::move(file), id, generation_));
}

Status FaultFileSystem::CreateDirs(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto v = AdmitLocked(Op::kCreateDirs, "mkdir", path);
  if (!v.status.ok()) return v.status;
  return base_->CreateDirs(path);
}

Status FaultFileSystem::SyncDir(const std::string& path) {
  const std::string dir = Normalize(path);
  std::map<std::string, uint64_t> entries;  // the directory as the sync sees it
  uint64_t seq, generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto v = AdmitLocked(Op::kSyncDir, "fsync directory", path);
    if (!v.status.ok()) return v.status;
    for (const auto& [p, id] : current_) {
      if (DirName(p) == dir) entries.emplace(p, id);
    }
    seq = next_seq_++;
    generation = generation_;
  }
  PCC_RETURN_IF_ERROR(base_->SyncDir(path));
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t& last = dir_seq_[dir];
  if (generation != generation_ || seq <= last) return Status::Ok();
  last = seq;
  std::erase_if(durable_names_, [&](const auto& kv) { return DirName(kv.first) == dir; });
  durable_names_.merge(entries);
  return Status::Ok();
}

// Moves every key of `m` under directory `from` to the same place under `to`
// (or drops it when `to` is outside root).
void FaultFileSystem::MoveTreeLocked(std::map<std::string, uint64_t>& m, const std::string& from,
                                     const std::string& to) {
  std::map<std::string, uint64_t> moved;
  for (auto it = m.begin(); it != m.end();) {
    if (!HasPrefixDir(it->first, from)) {
      ++it;
      continue;
    }
    std::string dest = to + it->first.substr(from.size());
    if (UnderRoot(dest)) moved[dest] = it->second;
    it = m.erase(it);
  }
  for (auto& [p, id] : moved) m[p] = id;
}

Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  const std::string f = Normalize(from), t = Normalize(to);
  std::lock_guard<std::mutex> lock(mu_);
  auto v = AdmitLocked(Op::kRename, "rename", from, to);
  if (!v.status.ok()) return v.status;
  PCC_RETURN_IF_ERROR(base_->Rename(from, to));
  if (auto it = current_.find(f); it != current_.end()) {
    uint64_t id = it->second;
    current_.erase(it);
    if (UnderRoot(t)) current_[t] = id;  // replaces whatever was at t
    return Status::Ok();
  }
  if (base_->List(to).ok()) {
    // A directory: directories are durable at once (see the header).
    MoveTreeLocked(current_, f, t);
    MoveTreeLocked(durable_names_, f, t);
  } else if (UnderRoot(t)) {
    current_[t] = next_id_++;  // a file from outside root
  }
  return Status::Ok();
}

Status FaultFileSystem::Remove(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  auto v = AdmitLocked(Op::kRemove, "unlink", path);
  if (!v.status.ok()) return v.status;
  PCC_RETURN_IF_ERROR(base_->Remove(path));
  // A file's removal is durable only after SyncDir; a directory's at once,
  // taking with it whatever durable entries it still had.
  if (current_.erase(p) == 0) {
    std::erase_if(durable_names_, [&](const auto& kv) { return HasPrefixDir(kv.first, p); });
  }
  return Status::Ok();
}

Result<std::vector<DirEntry>> FaultFileSystem::List(const std::string& dir) {
  PCC_RETURN_IF_ERROR(CheckAlive("opendir", dir, kNoGeneration));
  return base_->List(dir);
}

bool FaultFileSystem::Exists(const std::string& path) {
  if (!CheckAlive("stat", path, kNoGeneration).ok()) return false;
  return base_->Exists(path);
}

Status FaultFileSystem::PowerLoss() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [p, id] : current_) {
    Status s = base_->Remove(p);
    if (!s.ok() && s.code() != Code::kNotFound) return s.Annotate("simulating power loss");
  }
  for (const auto& [p, id] : durable_names_) {
    Status s = [&, &p = p, id = id]() -> Status {
      PCC_RETURN_IF_ERROR(base_->CreateDirs(DirName(p)));
      OpenOptions opts;
      opts.write = opts.create = opts.truncate = true;
      PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, base_->Open(p, opts));
      const std::string& data = durable_data_[id];  // never synced: empty
      return file->WriteAt(data.data(), data.size(), 0);
    }();
    if (!s.ok()) return s.Annotate("simulating power loss");
  }
  current_ = durable_names_;
  // Content of files that no longer exist anywhere is garbage now.
  std::set<uint64_t> live;
  for (const auto& [p, id] : current_) live.insert(id);
  std::erase_if(durable_data_, [&](const auto& kv) { return live.count(kv.first) == 0; });
  std::erase_if(data_seq_, [&](const auto& kv) { return live.count(kv.first) == 0; });
  rules_.clear();
  crashed_ = false;
  crash_at_ = 0;
  ++generation_;
  return Status::Ok();
}

void FaultFileSystem::HoldWrites(bool hold, std::string path_substr) {
  {
    std::lock_guard lock(slow_mu_);
    hold_writes_ = hold;
    hold_substr_ = std::move(path_substr);
  }
  slow_cv_.notify_all();
}

void FaultFileSystem::SetWriteDelay(uint64_t delay_us) { write_delay_us_ = delay_us; }

void FaultFileSystem::WaitHeldWrites(int n) {
  std::unique_lock lock(slow_mu_);
  slow_cv_.wait(lock, [&] { return held_writes_ >= n; });
}

int FaultFileSystem::held_writes() const {
  std::lock_guard lock(slow_mu_);
  return held_writes_;
}

void FaultFileSystem::SlowWrite(const std::string& path) {
  {
    std::unique_lock lock(slow_mu_);
    if (hold_writes_ && path.find(hold_substr_) != std::string::npos) {
      ++held_writes_;
      slow_cv_.notify_all();
      slow_cv_.wait(lock, [&] { return !hold_writes_; });
      --held_writes_;
    }
  }
  if (const uint64_t us = write_delay_us_.load(); us > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  }
}

}  // namespace pccheck
