// DenyingFileSystem: a FileSystemWrapper on which chosen directories cannot
// be listed or looked into, as for a user the directory's permissions do not
// admit. Tests run as root, whom permission bits do not stop, so a test that
// needs "Permission denied" gets it here instead of from chmod.
//
// Thread-safety: Deny before the wrapper is shared; the calls are then as
// thread-safe as the target's.
#pragma once

#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "io/file_system_wrapper.h"

namespace pccheck {

class DenyingFileSystem : public FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;

  // From now on `dir` cannot be listed (EACCES), and nothing below it is
  // seen (Exists answers false, Open fails with EACCES), as with mode 0000.
  void Deny(const std::string& dir) { denied_.insert(dir); }

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override {
    if (Below(path)) return Status::FromErrno(EACCES, "open " + path);
    return FileSystemWrapper::Open(path, opts);
  }
  Result<std::vector<DirEntry>> List(const std::string& dir) override {
    if (denied_.count(dir) || Below(dir)) return Status::FromErrno(EACCES, "opendir " + dir);
    return FileSystemWrapper::List(dir);
  }
  bool Exists(const std::string& path) override {
    return !Below(path) && FileSystemWrapper::Exists(path);
  }

 private:
  bool Below(const std::string& path) const {
    for (const std::string& d : denied_) {
      if (path.size() > d.size() && path.compare(0, d.size(), d) == 0 && path[d.size()] == '/') {
        return true;
      }
    }
    return false;
  }

  std::set<std::string> denied_;
};

}  // namespace pccheck
