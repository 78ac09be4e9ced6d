// FileSystemWrapper and FileWrapper forward every call they do not override.
#include "io/file_system_wrapper.h"

#include "catch.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

// Counts syncs of files it opened; everything else is the target's.
class CountingFileSystem final : public FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;
  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override {
    PCC_ASSIGN_OR_RETURN(auto file, target()->Open(path, opts));
    return std::unique_ptr<File>(new Counting(this, std::move(file)));
  }
  int syncs = 0;

 private:
  class Counting final : public FileWrapper {
   public:
    Counting(CountingFileSystem* fs, std::unique_ptr<File> f)
        : FileWrapper(std::move(f)), fs_(fs) {}
    Status Sync() override {
      ++fs_->syncs;
      return target()->Sync();
    }

   private:
    CountingFileSystem* fs_;
  };
};

TEST_CASE("FileSystemWrapper: one call overridden, the others reach the target", "[io]") {
  testing::TempDir dir;
  auto posix = NewPosixFileSystem();
  CountingFileSystem fs(posix.get());
  REQUIRE(fs.CreateDirs(dir.path() + "/a/b").ok());
  REQUIRE(fs.WriteFileAtomic(dir.path() + "/a/b/f", "hello").ok());
  CHECK(fs.syncs == 1);
  CHECK(fs.Exists(dir.path() + "/a/b/f"));
  auto content = posix->ReadWholeFile(dir.path() + "/a/b/f");
  REQUIRE(content.ok());
  CHECK(*content == "hello");
  REQUIRE(fs.Rename(dir.path() + "/a/b/f", dir.path() + "/a/g").ok());
  auto list = fs.List(dir.path() + "/a");
  REQUIRE(list.ok());
  CHECK(list->size() == 2);
  REQUIRE(fs.Remove(dir.path() + "/a/g").ok());
  CHECK_FALSE(posix->Exists(dir.path() + "/a/g"));
}

}  // namespace
}  // namespace pccheck
