// What the engine tells `status` about saves in flight: bytes copied and
// written, the commit stage, how long a save has been going, and the recent
// write and copy rates. A gate holds the data file's sync, so a save stays in
// its commit stage for as long as the test looks; a fake clock makes the
// times exact.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "catch.h"
#include "engine_fixture.h"
#include "io/file_system_wrapper.h"
#include "support/manual_clock.h"

namespace pccheck::testing {
namespace {

// Passes everything to the real file system, except that File::Sync of a
// slot's data file waits until Release().
class GatedFileSystem final : public FileSystemWrapper {
 public:
  explicit GatedFileSystem(FileSystem* base) : FileSystemWrapper(base) {}

  // Waits (up to 30 s) until a data sync is being held.
  bool WaitHeld() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return held_ > 0; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override {
    PCC_ASSIGN_OR_RETURN(auto file, target()->Open(path, opts));
    if (!path.ends_with(".data")) return file;
    return std::unique_ptr<File>(new Gated(this, std::move(file)));
  }

 private:
  class Gated final : public FileWrapper {
   public:
    Gated(GatedFileSystem* fs, std::unique_ptr<File> base)
        : FileWrapper(std::move(base)), fs_(fs) {}
    Status Sync() override {
      fs_->Hold();
      return target()->Sync();
    }

   private:
    GatedFileSystem* fs_;
  };

  void Hold() {
    std::unique_lock lock(mu_);
    ++held_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int held_ = 0;
  bool open_ = false;
};

TEST_CASE("a save whose chunks are all written shows as committing until its commit ends") {
  TempDir dir;
  auto posix = NewPosixFileSystem();
  GatedFileSystem fs(posix.get());
  auto gpu = NewFakeGpu();
  ManualClock clock(1000 * 1'000'000ull, 0);
  auto engine = Engine::Open(SmallOptions(dir.path()), &fs, gpu.get(), &clock);
  REQUIRE(engine.ok());
  // Opens the gate before the engine shuts down, also when a check fails.
  struct OpenAtEnd {
    GatedFileSystem& fs;
    ~OpenAtEnd() { fs.Release(); }
  } open_at_end{fs};
  // About five chunks of 64 KiB: more than the pool's four, so chunks are reused.
  const auto set = TensorSet::Make({300'000}, 5);
  auto h = (*engine)->Save(MakeRequest(set, 1));
  REQUIRE(h.ok());
  REQUIRE(fs.WaitHeld());
  clock.Advance(2'500'000);

  auto inflight = (*engine)->Inflight();
  REQUIRE(inflight.size() == 1);
  const InflightInfo& i = inflight[0];
  CHECK(i.step == 1);
  CHECK(i.bytes_total == 300'000);
  CHECK(i.bytes_copied == 300'000);
  CHECK(i.bytes_written == 300'000);
  CHECK(i.snapshot_done);
  CHECK(i.committing);
  CHECK(i.elapsed_s == 2.5);

  // 300,000 bytes copied and written since the engine started 2.5 s ago.
  EngineStats st = (*engine)->Stats();
  CHECK(st.bytes_copied == 300'000);
  CHECK(st.bytes_written == 300'000);
  CHECK(st.write_bytes_per_s_recent == 300'000 / 2.5);
  CHECK(st.copy_bytes_per_s_recent == 300'000 / 2.5);

  fs.Release();
  CHECK((*h)->Wait().ok());
  CHECK((*engine)->Inflight().empty());
  // Ten seconds later the rates have nothing left to count.
  clock.Advance(10'000'000);
  st = (*engine)->Stats();
  CHECK(st.write_bytes_per_s_recent == 0);
  CHECK(st.copy_bytes_per_s_recent == 0);
  CHECK(st.bytes_written == 300'000);
}

}  // namespace
}  // namespace pccheck::testing
