// FileSystem on POSIX calls. Every failure goes through Status::FromErrno with
// the call and the path, so a message reads "pwrite /x/slot-1.data: ...".
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "io/file_system.h"

namespace pccheck {
namespace {

Status Errno(const char* call, const std::string& path) {
  return Status::FromErrno(errno, std::string(call) + " " + path);
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path, bool direct)
      : fd_(fd), path_(std::move(path)), direct_(direct) {}
  ~PosixFile() override { ::close(fd_); }

  Status WriteAt(const void* data, size_t n, uint64_t offset) override {
    const char* p = static_cast<const char*>(data);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pwrite(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("pwrite", path_);
      }
      if (r == 0) {
        return Status::IoError("short write " + path_ + ": wrote " + std::to_string(done) + " of " +
                               std::to_string(n) + " bytes at offset " + std::to_string(offset));
      }
      done += static_cast<size_t>(r);
    }
    return Status::Ok();
  }

  Status ReadAt(void* data, size_t n, uint64_t offset, size_t* got) override {
    char* p = static_cast<char*>(data);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        *got = done;
        return Errno("pread", path_);
      }
      if (r == 0) break;  // end of file
      done += static_cast<size_t>(r);
    }
    *got = done;
    return Status::Ok();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("fdatasync", path_);
    return Status::Ok();
  }

  Status Allocate(uint64_t size) override {
    if (size == 0) return Status::Ok();  // fallocate rejects a zero length
    if (::fallocate(fd_, 0, 0, static_cast<off_t>(size)) == 0) return Status::Ok();
    if (errno != EOPNOTSUPP) return Errno("fallocate", path_);
    // No reservation on this file system: at least give the file its size.
    PCC_ASSIGN_OR_RETURN(uint64_t current, Size());
    if (current >= size) return Status::Ok();
    return Truncate(size);
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return Errno("ftruncate", path_);
    return Status::Ok();
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Errno("fstat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  bool direct() const override { return direct_; }
  const std::string& path() const override { return path_; }

 private:
  const int fd_;
  const std::string path_;
  const bool direct_;
};

Status NotRegular(const std::string& path, const std::string& what) {
  return Status::Corruption(path + " is " + what +
                            ", not a regular file: a store holds only regular files that "
                            "pccheck wrote; move it out of the store");
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override {
    int flags = O_CLOEXEC;
    flags |= (opts.write || opts.create) ? O_RDWR : O_RDONLY;
    if (opts.create) flags |= O_CREAT;
    if (opts.truncate) flags |= O_TRUNC;
    if (opts.regular_only) flags |= O_NONBLOCK | O_NOFOLLOW;
    bool direct = opts.direct;
    int fd = ::open(path.c_str(), flags | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && direct && errno == EINVAL) {
      // The file system refuses O_DIRECT (older tmpfs): fall back to buffered.
      direct = false;
      fd = ::open(path.c_str(), flags, 0644);
    }
    if (fd < 0 && opts.regular_only && errno == ELOOP) return NotRegular(path, "a symbolic link");
    if (fd < 0) return Errno("open", path);
    auto file = std::unique_ptr<File>(new PosixFile(fd, path, direct));
    if (opts.regular_only) {
      struct stat st;
      if (::fstat(fd, &st) != 0) return Errno("fstat", path);
      if (!S_ISREG(st.st_mode)) return NotRegular(path, FileTypeName(st.st_mode));
    }
    return file;
  }

  Status CreateDirs(const std::string& path) override {
    if (path.empty()) return Status::InvalidArgument("mkdir: empty path");
    // mkdir each prefix in turn; EEXIST is fine as long as it is a directory.
    for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
      std::string prefix = path.substr(0, end);
      if (!prefix.empty() && prefix.back() != '/' && ::mkdir(prefix.c_str(), 0755) != 0) {
        if (errno != EEXIST) return Errno("mkdir", prefix);
        if (!IsDir(prefix)) return Status::FromErrno(ENOTDIR, "mkdir " + prefix);
      }
      if (end == std::string::npos) return Status::Ok();
    }
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno("open directory", path);
    Status s = ::fsync(fd) == 0 ? Status::Ok() : Errno("fsync directory", path);
    ::close(fd);
    return s;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename", from + " -> " + to);
    return Status::Ok();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return Status::Ok();
    // Linux answers EISDIR for a directory; POSIX allows EPERM.
    if ((errno == EISDIR || errno == EPERM) && IsDir(path)) {
      if (::rmdir(path.c_str()) == 0) return Status::Ok();
      return Errno("rmdir", path);
    }
    return Errno("unlink", path);
  }

  Result<std::vector<DirEntry>> List(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Errno("opendir", dir);
    std::vector<DirEntry> out;
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(d);
      if (e == nullptr) break;
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) is_dir = IsDir(JoinPath(dir, name));
      out.push_back({std::move(name), is_dir});
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return Status::FromErrno(err, "readdir " + dir);
    std::sort(out.begin(), out.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    return out;
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }
};

}  // namespace

const char* FileTypeName(unsigned mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

std::unique_ptr<FileSystem> NewPosixFileSystem() { return std::make_unique<PosixFileSystem>(); }

}  // namespace pccheck
