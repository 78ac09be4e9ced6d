// FileSystemWrapper and FileWrapper: a FileSystem (File) that passes every
// call to another one, as leveldb's EnvWrapper does. A test double derives
// from it and overrides only the calls it changes; the rest keep working
// when the seam grows a call.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/file_system.h"

namespace pccheck {

class FileWrapper : public File {
 public:
  explicit FileWrapper(std::unique_ptr<File> target) : target_(std::move(target)) {}
  File* target() const { return target_.get(); }

  Status WriteAt(const void* data, size_t n, uint64_t offset) override {
    return target_->WriteAt(data, n, offset);
  }
  Status ReadAt(void* data, size_t n, uint64_t offset, size_t* got) override {
    return target_->ReadAt(data, n, offset, got);
  }
  Status Sync() override { return target_->Sync(); }
  Status Allocate(uint64_t size) override { return target_->Allocate(size); }
  Status Truncate(uint64_t size) override { return target_->Truncate(size); }
  Result<uint64_t> Size() override { return target_->Size(); }
  bool direct() const override { return target_->direct(); }
  const std::string& path() const override { return target_->path(); }

 private:
  std::unique_ptr<File> target_;
};

// Does not own `target`, which must outlive it.
class FileSystemWrapper : public FileSystem {
 public:
  explicit FileSystemWrapper(FileSystem* target) : target_(target) {}
  FileSystem* target() const { return target_; }

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override {
    return target_->Open(path, opts);
  }
  Status CreateDirs(const std::string& path) override { return target_->CreateDirs(path); }
  Status SyncDir(const std::string& path) override { return target_->SyncDir(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return target_->Rename(from, to);
  }
  Status Remove(const std::string& path) override { return target_->Remove(path); }
  Result<std::vector<DirEntry>> List(const std::string& dir) override { return target_->List(dir); }
  bool Exists(const std::string& path) override { return target_->Exists(path); }

 private:
  FileSystem* target_;
};

}  // namespace pccheck
