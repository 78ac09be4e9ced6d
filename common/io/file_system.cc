// The conveniences every FileSystem gets from its primitive calls, and path
// helpers. Nothing here touches the disk except through the virtual calls.
#include "io/file_system.h"

#include <algorithm>

namespace pccheck {

Result<std::string> FileSystem::ReadWholeFile(const std::string& path) {
  PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, Open(path, OpenOptions{}));
  std::string out;
  size_t chunk = 64 * 1024;
  for (;;) {
    size_t old = out.size();
    out.resize(old + chunk);
    size_t got = 0;
    PCC_RETURN_IF_ERROR(file->ReadAt(out.data() + old, chunk, old, &got));
    out.resize(old + got);
    if (got < chunk) return out;
    chunk = std::min<size_t>(chunk * 2, 16 << 20);
  }
}

Result<std::string> FileSystem::ReadStoreFile(const std::string& path, uint64_t max_bytes) {
  OpenOptions oo;
  oo.regular_only = true;
  PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, Open(path, oo));
  PCC_ASSIGN_OR_RETURN(const uint64_t size, file->Size());
  // The size only sizes the buffer: a file growing meanwhile is caught by
  // reading one byte more than its format allows.
  std::string out(std::min(size, max_bytes) + 1, '\0');
  size_t done = 0;
  for (;;) {
    size_t got = 0;
    PCC_RETURN_IF_ERROR(file->ReadAt(out.data() + done, out.size() - done, done, &got));
    done += got;
    if (done < out.size() || done > max_bytes) break;
    out.resize(std::min<uint64_t>(out.size() * 2, max_bytes + 1));
  }
  if (done > max_bytes) {
    return Status::Corruption(path + " holds more than " + std::to_string(max_bytes) + " bytes (" +
                              std::to_string(size) +
                              "), more than its format allows: it is not a file pccheck wrote; "
                              "move it out of the store");
  }
  out.resize(done);
  return out;
}

Status FileSystem::WriteFileAtomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  Status s = [&]() -> Status {
    OpenOptions opts;
    opts.write = opts.create = opts.truncate = true;
    PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, Open(tmp, opts));
    PCC_RETURN_IF_ERROR(file->WriteAt(data.data(), data.size(), 0));
    return file->Sync();
  }();
  if (s.ok()) s = Rename(tmp, path);
  if (!s.ok()) {
    // Best effort: the tmp file is garbage now; the old content is untouched.
    (void)Remove(tmp);
    return s;
  }
  return SyncDir(DirName(path));
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  size_t skip = 0;
  while (skip < b.size() && b[skip] == '/') ++skip;
  if (skip == b.size()) return a;
  return a + (a.back() == '/' ? "" : "/") + b.substr(skip);
}

// Length of `path` without its trailing slashes ("/" keeps its one slash).
static size_t TrimmedLength(const std::string& path) {
  size_t n = path.size();
  while (n > 1 && path[n - 1] == '/') --n;
  return n;
}

std::string DirName(const std::string& path) {
  size_t n = TrimmedLength(path);
  if (n == 0) return ".";
  size_t slash = path.rfind('/', n - 1);
  if (slash == std::string::npos) return ".";
  while (slash > 0 && path[slash - 1] == '/') --slash;  // "a//b" -> "a"
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t n = TrimmedLength(path);
  if (n == 0) return "";
  if (n == 1 && path[0] == '/') return "/";
  size_t slash = path.rfind('/', n - 1);
  size_t start = slash == std::string::npos ? 0 : slash + 1;
  return path.substr(start, n - start);
}

}  // namespace pccheck
