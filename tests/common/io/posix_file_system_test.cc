// The POSIX FileSystem: O_DIRECT I/O, its buffered fallback, error messages
// that name the path and the errno text, and the helpers built on it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "catch.h"
#include "io/file_system.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

using testing::RandomBytes;
using testing::TempDir;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<uint8_t, FreeDeleter>;

AlignedBuf AlignedAlloc(size_t n) {
  return AlignedBuf(static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, n)));
}

OpenOptions Create(bool direct = false) {
  OpenOptions o;
  o.write = o.create = o.truncate = true;
  o.direct = direct;
  return o;
}

// The file's size, or ~0 when fstat fails.
uint64_t SizeOf(File& file) {
  auto size = file.Size();
  return size.ok() ? size.value() : ~uint64_t{0};
}

// The whole file, or the error's text.
std::string Read(FileSystem& fs, const std::string& path) {
  auto r = fs.ReadWholeFile(path);
  return r.ok() ? r.value() : r.status().ToString();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Writes 3 aligned blocks at an aligned offset, syncs, and reads them back.
void CheckAlignedRoundTrip(FileSystem& fs, const std::string& path, bool direct) {
  constexpr size_t kLen = 3 * kDirectAlign;
  auto want = RandomBytes(kLen, 7);
  auto buf = AlignedAlloc(kLen);
  std::memcpy(buf.get(), want.data(), kLen);
  auto file = fs.Open(path, Create(direct));
  REQUIRE(file.ok());
  REQUIRE((*file)->WriteAt(buf.get(), kLen, kDirectAlign).ok());
  REQUIRE((*file)->Sync().ok());
  auto size = (*file)->Size();
  REQUIRE(size.ok());
  CHECK(*size == kLen + kDirectAlign);

  auto back = AlignedAlloc(kLen + kDirectAlign);
  size_t got = 0;
  // Ask for more than is there: the read stops at end of file.
  REQUIRE((*file)->ReadAt(back.get(), kLen + kDirectAlign, kDirectAlign, &got).ok());
  CHECK(got == kLen);
  CHECK(std::memcmp(back.get(), want.data(), kLen) == 0);
}

TEST_CASE("PosixFileSystem O_DIRECT aligned write and read round trip", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  const std::string path = JoinPath(dir.path(), "slot-0.data");
  CheckAlignedRoundTrip(*fs, path, /*direct=*/true);
  auto file = fs->Open(path, OpenOptions{.direct = true});
  REQUIRE(file.ok());
  INFO("the test directory's file system may refuse O_DIRECT: " << dir.path());
  CHECK((*file)->direct());
  CHECK((*file)->path() == path);
}

TEST_CASE("PosixFileSystem O_DIRECT on tmpfs: direct where supported, else buffered", "[io]") {
  struct stat st;
  if (::stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode)) return;  // no tmpfs here
  std::string templ = "/dev/shm/pccheck-test-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return;
  auto fs = NewPosixFileSystem();
  const std::string path = JoinPath(templ, "f");
  // Linux before 6.6 refuses O_DIRECT on tmpfs with EINVAL; newer ones accept it.
  int probe = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  bool tmpfs_direct = probe >= 0;
  if (probe >= 0) ::close(probe);
  CAPTURE(tmpfs_direct);

  CheckAlignedRoundTrip(*fs, path, /*direct=*/true);
  {
    auto file = fs->Open(path, OpenOptions{.write = true, .direct = true});
    REQUIRE(file.ok());
    CHECK((*file)->direct() == tmpfs_direct);
    if (!tmpfs_direct) {
      // Buffered: unaligned I/O works too.
      REQUIRE((*file)->WriteAt("xyz", 3, 1).ok());
      char back[3];
      size_t got = 0;
      REQUIRE((*file)->ReadAt(back, 3, 1, &got).ok());
      CHECK(std::string(back, got) == "xyz");
    }
  }
  REQUIRE(fs->Remove(path).ok());
  REQUIRE(fs->Remove(templ).ok());
}

TEST_CASE("PosixFileSystem opens buffered where O_DIRECT is refused with EINVAL", "[io]") {
  // procfs refuses O_DIRECT on every kernel, so the fallback runs even where
  // tmpfs accepts it.
  const std::string path = "/proc/version";
  int probe = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (probe >= 0) ::close(probe);
  if (probe >= 0 || errno != EINVAL) return;  // nothing here refuses O_DIRECT
  auto fs = NewPosixFileSystem();
  auto file = fs->Open(path, OpenOptions{.direct = true});
  REQUIRE(file.ok());
  CHECK(!(*file)->direct());
  char buf[5];
  size_t got = 0;
  REQUIRE((*file)->ReadAt(buf, sizeof(buf), 0, &got).ok());  // unaligned: buffered
  CHECK(std::string(buf, got) == "Linux");
}

TEST_CASE("PosixFileSystem errors name the call, the path and the errno text", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  const std::string missing = JoinPath(dir.path(), "missing");
  const std::string enoent = std::strerror(ENOENT);

  auto open = fs->Open(missing, OpenOptions{});
  REQUIRE_FALSE(open.ok());
  CHECK(open.status().code() == Code::kNotFound);
  CHECK(open.status().message() == "open " + missing + ": " + enoent);

  Status s = fs->Remove(missing);
  CHECK(s.code() == Code::kNotFound);
  CHECK(Contains(s.message(), "unlink " + missing));
  CHECK(Contains(s.message(), enoent));

  s = fs->Rename(missing, missing + ".2");
  CHECK(s.code() == Code::kNotFound);
  CHECK(Contains(s.message(), "rename " + missing + " -> " + missing + ".2"));

  s = fs->SyncDir(missing);
  CHECK(s.code() == Code::kNotFound);
  CHECK(Contains(s.message(), missing));

  auto list = fs->List(missing);
  REQUIRE_FALSE(list.ok());
  CHECK(Contains(list.status().message(), "opendir " + missing + ": " + enoent));

  auto read = fs->ReadWholeFile(missing);
  REQUIRE_FALSE(read.ok());
  CHECK(Contains(read.status().message(), missing));

  // A directory where a file is: mkdir under a regular file fails, naming it.
  const std::string file_path = JoinPath(dir.path(), "plain");
  REQUIRE(fs->WriteFileAtomic(file_path, "x").ok());
  s = fs->CreateDirs(JoinPath(file_path, "sub"));
  REQUIRE_FALSE(s.ok());
  CHECK(Contains(s.message(), file_path));
  CHECK(Contains(s.message(), std::strerror(ENOTDIR)));
}

TEST_CASE("PosixFileSystem write errors: ENOSPC is kNoSpace and names the file", "[io]") {
  auto fs = NewPosixFileSystem();
  if (!fs->Exists("/dev/full")) return;
  auto file = fs->Open("/dev/full", OpenOptions{.write = true});
  REQUIRE(file.ok());
  Status s = (*file)->WriteAt("abc", 3, 0);
  CHECK(s.code() == Code::kNoSpace);
  CHECK(Contains(s.message(), "pwrite /dev/full: " + std::string(std::strerror(ENOSPC))));
}

TEST_CASE("PosixFileSystem Allocate, Truncate and Size", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto file = fs->Open(JoinPath(dir.path(), "f"), Create());
  REQUIRE(file.ok());
  REQUIRE((*file)->Allocate(1 << 20).ok());
  CHECK(SizeOf(**file) == (1u << 20));
  REQUIRE((*file)->Allocate(4096).ok());  // never shrinks
  CHECK(SizeOf(**file) == (1u << 20));
  REQUIRE((*file)->Truncate(10).ok());
  CHECK(SizeOf(**file) == 10u);
  char buf[16];
  size_t got = 99;
  REQUIRE((*file)->ReadAt(buf, sizeof(buf), 0, &got).ok());
  CHECK(got == 10);
  REQUIRE((*file)->ReadAt(buf, sizeof(buf), 100, &got).ok());
  CHECK(got == 0);
}

TEST_CASE("PosixFileSystem CreateDirs, List, Exists, Remove", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  const std::string deep = JoinPath(dir.path(), "a/b/c");
  REQUIRE(fs->CreateDirs(deep).ok());
  REQUIRE(fs->CreateDirs(deep + "/").ok());  // exists: ok
  CHECK(fs->Exists(deep));
  REQUIRE(fs->WriteFileAtomic(JoinPath(dir.path(), "a/file"), "data").ok());

  auto list = fs->List(JoinPath(dir.path(), "a"));
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);  // no "." or ".."; sorted by name
  CHECK((*list)[0].name == "b");
  CHECK((*list)[0].is_dir);
  CHECK((*list)[1].name == "file");
  CHECK(!(*list)[1].is_dir);

  REQUIRE(fs->Remove(JoinPath(dir.path(), "a/file")).ok());  // unlink
  REQUIRE(fs->Remove(deep).ok());                            // rmdir
  CHECK(!fs->Exists(deep));
  CHECK(fs->Exists(JoinPath(dir.path(), "a/b")));
  REQUIRE(fs->SyncDir(JoinPath(dir.path(), "a")).ok());
}

TEST_CASE("WriteFileAtomic replaces the content and leaves no temp file", "[io]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  const std::string path = JoinPath(dir.path(), "latest");
  REQUIRE(fs->WriteFileAtomic(path, "first").ok());
  CHECK(Read(*fs, path) == "first");
  REQUIRE(fs->WriteFileAtomic(path, "second, longer").ok());
  CHECK(Read(*fs, path) == "second, longer");
  REQUIRE(fs->WriteFileAtomic(path, "").ok());
  CHECK(Read(*fs, path) == "");
  CHECK(!fs->Exists(path + ".tmp"));

  // Larger than ReadWholeFile's first chunk.
  auto big = RandomBytes(300 * 1024 + 5, 3);
  std::string data(big.begin(), big.end());
  REQUIRE(fs->WriteFileAtomic(path, data).ok());
  CHECK(Read(*fs, path) == data);

  // Into a missing directory: fails, naming the temp file; nothing left.
  const std::string bad = JoinPath(dir.path(), "nodir/latest");
  Status s = fs->WriteFileAtomic(bad, "x");
  CHECK(s.code() == Code::kNotFound);
  CHECK(Contains(s.message(), bad + ".tmp"));
}

TEST_CASE("JoinPath, DirName and BaseName", "[io]") {
  CHECK(JoinPath("/a", "b") == "/a/b");
  CHECK(JoinPath("/a/", "b") == "/a/b");
  CHECK(JoinPath("/a", "/b") == "/a/b");
  CHECK(JoinPath("", "b") == "b");
  CHECK(JoinPath("/a", "") == "/a");
  CHECK(JoinPath("/", "b") == "/b");

  CHECK(DirName("/a/b") == "/a");
  CHECK(DirName("/a/b/") == "/a");
  CHECK(DirName("/a//b") == "/a");
  CHECK(DirName("/a") == "/");
  CHECK(DirName("/") == "/");
  CHECK(DirName("a") == ".");
  CHECK(DirName("a/b") == "a");
  CHECK(DirName("") == ".");

  CHECK(BaseName("/a/b") == "b");
  CHECK(BaseName("/a/b/") == "b");
  CHECK(BaseName("b") == "b");
  CHECK(BaseName("/") == "/");
  CHECK(BaseName("") == "");
}

TEST_CASE("store files: a FIFO, a device or a link is refused at once", "[io][damage]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  OpenOptions store_file;
  store_file.regular_only = true;
  // Opened blocking, a FIFO without a writer would hold the reader for good.
  const std::string fifo = dir.path() + "/latest";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto opened = fs->Open(fifo, store_file);
  CHECK(opened.status().code() == Code::kCorruption);
  CHECK(opened.status().message() == fifo +
                                         " is a FIFO, not a regular file: a store holds only "
                                         "regular files that pccheck wrote; move it out of the "
                                         "store");
  CHECK(fs->ReadStoreFile(fifo, 32).status().code() == Code::kCorruption);

  // A link is never followed: to /dev/zero it would read without end.
  const std::string link = dir.path() + "/zero";
  REQUIRE(::symlink("/dev/zero", link.c_str()) == 0);
  auto zero = fs->ReadStoreFile(link, 1u << 30);
  CHECK(zero.status().code() == Code::kCorruption);
  CHECK(zero.status().message().find(link + " is a symbolic link") == 0);
  auto device = fs->Open("/dev/null", store_file);
  CHECK(device.status().message().find("/dev/null is a character device") == 0);
  auto directory = fs->Open(dir.path(), store_file);
  CHECK(directory.status().message().find(dir.path() + " is a directory") == 0);
  // Without regular_only a link is followed, as before.
  CHECK(fs->Open(link, OpenOptions{}).ok());
}

TEST_CASE("store files are read up to what their format allows", "[io][damage]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  const std::string path = dir.path() + "/manifest";
  const std::vector<uint8_t> bytes = RandomBytes(100'000, 7);
  const std::string content(bytes.begin(), bytes.end());
  REQUIRE(fs->WriteFileAtomic(path, content).ok());
  auto whole = fs->ReadStoreFile(path, content.size());
  REQUIRE(whole.ok());
  CHECK(*whole == content);
  auto bigger = fs->ReadStoreFile(path, content.size() - 1);
  CHECK(bigger.status().code() == Code::kCorruption);
  CHECK(bigger.status().message().find(path + " holds more than 99999 bytes (100000)") == 0);
  REQUIRE(fs->WriteFileAtomic(path, "").ok());
  auto empty = fs->ReadStoreFile(path, 32);
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}
}  // namespace
}  // namespace pccheck
