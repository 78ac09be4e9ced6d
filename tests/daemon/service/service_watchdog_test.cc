// The service watchdog (daemon/server/service_watchdog.h): it pings only
// while nothing is stalled, and a real engine whose writer hangs in a write
// stops the pings while an idle one does not.
#include "service/service_watchdog.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/liveness.h"
#include "catch.h"
#include "daemon/engine/engine_fixture.h"
#include "engine/engine.h"
#include "io/file_system.h"
#include "io/file_system_wrapper.h"
#include "support/manual_clock.h"
#include "support/notify_listener.h"

namespace pccheck {
namespace {

using testing::NotifyListener;

WatchdogProbe FixedProbe(std::vector<std::string> stalled) {
  return {[stalled] { return stalled; }, [] { return std::string("serving 0 sessions"); }};
}

TEST_CASE("The watchdog pings with the status line while nothing is stalled") {
  NotifyListener listener;
  ServiceNotifier notifier(listener.address(), 2'000'000);
  WatchdogTicker ticker(&notifier, FixedProbe({}));
  CHECK(ticker.Tick());
  CHECK(listener.Receive(10'000) ==
        std::optional<std::string>("STATUS=serving 0 sessions\nWATCHDOG=1"));
}

TEST_CASE("The watchdog stops pinging and says who is stalled") {
  NotifyListener listener;
  ServiceNotifier notifier(listener.address(), 2'000'000);
  WatchdogTicker ticker(&notifier, FixedProbe({"writer 2: writing a chunk for 75 s"}));
  CHECK_FALSE(ticker.Tick());
  auto sent = listener.Receive(10'000);
  REQUIRE(sent);
  CHECK(*sent == "STATUS=stalled: writer 2: writing a chunk for 75 s");
  CHECK(sent->find("WATCHDOG=1") == std::string::npos);
}

TEST_CASE("Without WatchdogSec only STATUS= is sent") {
  NotifyListener listener;
  ServiceNotifier notifier(listener.address(), 0);
  WatchdogTicker ticker(&notifier, FixedProbe({}));
  CHECK_FALSE(ticker.Tick());
  CHECK(listener.Receive(10'000) == std::optional<std::string>("STATUS=serving 0 sessions"));
  CHECK(ServiceWatchdog::PeriodFor(0) == 10'000'000);
  CHECK(ServiceWatchdog::PeriodFor(60'000'000) == 30'000'000);
}

TEST_CASE("The watchdog thread ticks at once and stops when destroyed") {
  NotifyListener listener;
  ServiceNotifier notifier(listener.address(), 3'600'000'000);
  {
    ServiceWatchdog watchdog(WatchdogTicker(&notifier, FixedProbe({})),
                             ServiceWatchdog::PeriodFor(notifier.watchdog_usec()));
    CHECK(listener.Receive(30'000) ==
          std::optional<std::string>("STATUS=serving 0 sessions\nWATCHDOG=1"));
  }  // an hour to the next tick: returning here means the destructor woke it
}

// Data files whose writes wait at a gate until the test opens it.
class GatedFileSystem : public FileSystemWrapper {
 public:
  explicit GatedFileSystem(std::unique_ptr<FileSystem> base)
      : FileSystemWrapper(base.get()), base_(std::move(base)) {}

  void Release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitEntered(int timeout_ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return entered_; });
  }

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override {
    PCC_ASSIGN_OR_RETURN(auto file, base_->Open(path, opts));
    if (path.size() < 5 || path.substr(path.size() - 5) != ".data") return file;
    return std::unique_ptr<File>(new GatedFile(this, std::move(file)));
  }

 private:
  class GatedFile : public FileWrapper {
   public:
    GatedFile(GatedFileSystem* fs, std::unique_ptr<File> f) : FileWrapper(std::move(f)), fs_(fs) {}
    Status WriteAt(const void* data, size_t n, uint64_t offset) override {
      {
        std::unique_lock lock(fs_->mu_);
        fs_->entered_ = true;
        fs_->cv_.notify_all();
        fs_->cv_.wait(lock, [&] { return fs_->open_; });
      }
      return target()->WriteAt(data, n, offset);
    }

   private:
    GatedFileSystem* fs_;
  };

  std::unique_ptr<FileSystem> base_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

TEST_CASE("A writer hung in a write stops the watchdog; an idle engine does not") {
  constexpr uint64_t kLimit = 60'000'000;
  testing::TempDir dir;
  testing::ManualClock clock;
  Liveness liveness(&clock);
  GatedFileSystem fs(NewPosixFileSystem());
  auto gpu = NewFakeGpu(0);
  EngineOptions opts = testing::SmallOptions(dir.path());
  opts.writers = 1;
  opts.direct_io = false;
  auto engine = Engine::Open(opts, &fs, gpu.get(), &clock, &liveness);
  REQUIRE(engine.ok());
  struct OpenAtExit {  // a failing check must not leave the writer waiting
    GatedFileSystem* fs;
    ~OpenAtExit() { fs->Release(); }
  } open_at_exit{&fs};
  CHECK(liveness.Watched() == 3);  // copy thread, writer 1, commit thread

  NotifyListener listener;
  ServiceNotifier notifier(listener.address(), kLimit);
  WatchdogTicker ticker(&notifier, {[&] { return liveness.Stalled(kLimit); },
                                    [] { return std::string("serving 1 session"); }});

  clock.Advance(3 * kLimit);  // idle, however long: not stalled
  CHECK(ticker.Tick());
  CHECK(listener.Receive(10'000) ==
        std::optional<std::string>("STATUS=serving 1 session\nWATCHDOG=1"));

  auto tensors = testing::TensorSet::Make({10'000}, 1);
  auto first = (*engine)->Save(testing::MakeRequest(tensors, 1));
  REQUIRE(first.ok());
  REQUIRE(fs.WaitEntered(30'000));
  clock.Advance(kLimit + 1'000'000);
  auto stalled = liveness.Stalled(kLimit);
  CAPTURE(stalled);
  CHECK(std::find(stalled.begin(), stalled.end(),
                  "writer 1: checksumming and writing a chunk for 61 s") != stalled.end());
  CHECK_FALSE(ticker.Tick());
  auto sent = listener.Receive(10'000);
  REQUIRE(sent);
  CHECK(sent->find("STATUS=stalled: ") == 0);
  CHECK(sent->find("WATCHDOG=1") == std::string::npos);

  // The disk comes back: the next save goes through the same (only) writer,
  // which has then moved past the hung step.
  fs.Release();
  REQUIRE((*first)->Wait().ok());
  auto second = (*engine)->Save(testing::MakeRequest(tensors, 2));
  REQUIRE(second.ok());
  REQUIRE((*second)->Wait().ok());
  CHECK(liveness.Stalled(kLimit).empty());
  CHECK(ticker.Tick());
  CHECK(listener.Receive(10'000) ==
        std::optional<std::string>("STATUS=serving 1 session\nWATCHDOG=1"));
}

}  // namespace
}  // namespace pccheck
