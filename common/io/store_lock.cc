#include "io/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "io/file_system.h"

namespace pccheck {

namespace {

constexpr const char* kLockName = ".pccheckd.lock";

// The whole of fd's content, from offset 0 (at most 64 KiB: it is three lines).
std::string ReadAll(int fd) {
  std::string out(65536, '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = RetryOnEintr([&] {
      return ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    });
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

// "pccheckd (pid 123, socket /run/pccheck/pccheckd.sock)".
std::string Describe(const StoreLockHolder& h) {
  std::string who = h.owner.empty() ? "another process" : h.owner;
  if (h.pid <= 0) return who + " (pid unknown: it is writing the lock file, or wrote none)";
  who += " (pid " + std::to_string(h.pid);
  if (!h.socket.empty()) who += ", socket " + h.socket;
  return who + ")";
}

}  // namespace

std::string StoreLockPath(const std::string& root) { return JoinPath(root, kLockName); }

std::string FormatStoreLockHolder(const StoreLockHolder& h) {
  return "pid=" + std::to_string(h.pid) + "\nsocket=" + h.socket + "\nowner=" + h.owner + "\n";
}

StoreLockHolder ParseStoreLockHolder(const std::string& text) {
  StoreLockHolder h;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "pid") {
      pid_t pid = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
      if (ec == std::errc() && p == value.data() + value.size() && pid > 0) h.pid = pid;
    } else if (key == "socket") {
      h.socket = value;
    } else if (key == "owner") {
      h.owner = value;
    }
  }
  return h;
}

// A lock file is a regular file that some pccheck process created: anything
// else in its place (a FIFO would block every reader) is refused, naming it.
Status CheckLockFile(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat " + path);
  if (S_ISREG(st.st_mode)) return Status::Ok();
  return Status::Corruption(path + " is " + FileTypeName(st.st_mode) +
                            ", not the regular file pccheck keeps there: remove it (no running "
                            "pccheckd or bench created it)");
}

Result<StoreLockHolder> ReadStoreLockHolder(const std::string& root) {
  const std::string path = StoreLockPath(root);
  // Never waits on a FIFO, never follows a link out of the store.
  Fd fd(RetryOnEintr(
      [&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW); }));
  if (!fd.valid() && errno == ELOOP) {
    return Status::Corruption(path +
                              " is a symbolic link, not the regular file pccheck keeps "
                              "there: remove it");
  }
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  PCC_RETURN_IF_ERROR(CheckLockFile(fd.get(), path));
  return ParseStoreLockHolder(ReadAll(fd.get()));
}

Result<StoreLock> StoreLock::TryAcquire(const std::string& root, const StoreLockHolder& me) {
  const std::string path = StoreLockPath(root);
  struct stat root_st {};
  if (::stat(root.c_str(), &root_st) != 0) return Status::FromErrno(errno, "stat " + root);
  // A holder that releases unlinks the file; whoever opened the old file just
  // before may then lock an inode no longer reachable by name. So after
  // locking, check the name still leads to the locked inode, else try again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    Fd fd(RetryOnEintr([&] {
      return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    }));
    if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
    PCC_RETURN_IF_ERROR(CheckLockFile(fd.get(), path));
    if (RetryOnEintr([&] { return ::flock(fd.get(), LOCK_EX | LOCK_NB); }) != 0) {
      if (errno != EWOULDBLOCK) return Status::FromErrno(errno, "flock " + path);
      const StoreLockHolder holder = ParseStoreLockHolder(ReadAll(fd.get()));
      return Status::Busy("the store " + root + " is in use by " + Describe(holder) +
                          ", which holds " + path +
                          "; stop it first, or use a different store directory");
    }
    struct stat by_fd {
    }, by_name{};
    if (::fstat(fd.get(), &by_fd) != 0) return Status::FromErrno(errno, "fstat " + path);
    if (::stat(path.c_str(), &by_name) != 0 || by_fd.st_ino != by_name.st_ino ||
        by_fd.st_dev != by_name.st_dev) {
      continue;  // released and unlinked under us: lock the new file
    }
    const std::string content = FormatStoreLockHolder(me);
    if (::ftruncate(fd.get(), 0) != 0) return Status::FromErrno(errno, "ftruncate " + path);
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = RetryOnEintr([&] {
        return ::pwrite(fd.get(), content.data() + done, content.size() - done,
                        static_cast<off_t>(done));
      });
      if (n <= 0) return Status::FromErrno(n < 0 ? errno : EIO, "write " + path);
      done += static_cast<size_t>(n);
    }
    return StoreLock(std::move(fd), path);
  }
  return Status::Busy("could not lock " + path +
                      ": it was removed and created again 100 times in a row; is something "
                      "deleting it?");
}

StoreLock& StoreLock::operator=(StoreLock&& o) noexcept {
  if (this != &o) {
    Release();
    fd_ = std::move(o.fd_);
    path_ = std::move(o.path_);
  }
  return *this;
}

StoreLock::~StoreLock() { Release(); }

void StoreLock::Release() {
  if (!fd_.valid()) return;
  // Unlinked while still held, so nobody can lock it between the two steps.
  ::unlink(path_.c_str());
  fd_ = Fd();
}

}  // namespace pccheck
