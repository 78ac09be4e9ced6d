// I/O errors fail that checkpoint with an error naming the file and the cause;
// latest is unchanged and nothing leaks (chunks, slots, file descriptors).
#include "catch.h"
#include "engine_fixture.h"
#include "support/fault_file_system.h"

namespace pccheck::testing {
namespace {

using Op = FaultFileSystem::Op;
using Fault = FaultFileSystem::Fault;

struct Case {
  const char* what;
  Op op;
  int nth;
  Fault fault;
  const char* path;
  Code code;
  const char* names;  // expected in the message
};

TEST_CASE("an I/O error fails only that checkpoint and leaks nothing") {
  const Case cases[] = {
      {"EIO on a data write", Op::kWrite, 2, Fault::kEio, ".data", Code::kIoError, ".data"},
      {"short data write", Op::kWrite, 1, Fault::kShortWrite, ".data", Code::kIoError,
       "short write"},
      {"ENOSPC on a data write", Op::kWrite, 3, Fault::kEnospc, ".data", Code::kNoSpace, ".data"},
      {"ENOSPC preallocating", Op::kAllocate, 1, Fault::kEnospc, ".data", Code::kNoSpace, ".data"},
      {"EIO on the data fsync", Op::kSync, 1, Fault::kEio, ".data", Code::kIoError, ".data"},
      {"EIO on the manifest fsync", Op::kSync, 1, Fault::kEio, ".manifest", Code::kIoError,
       ".manifest"},
      {"EIO writing latest", Op::kWrite, 1, Fault::kEio, "latest", Code::kIoError, "latest"},
      {"EIO syncing the directory", Op::kSyncDir, 1, Fault::kEio, "rank-0", Code::kIoError,
       "rank-0"},
  };
  auto a = TensorSet::Make({70'000, 3, 200'000}, 1);
  auto b = TensorSet::Make({70'000, 3, 200'000}, 2);
  for (const Case& c : cases) {
    CAPTURE(c.what);
    TempDir dir;
    auto posix = NewPosixFileSystem();
    FaultFileSystem ffs(posix.get(), dir.path());
    auto gpu = NewFakeGpu();
    auto engine = Engine::Open(SmallOptions(dir.path(), 2), &ffs, gpu.get());
    REQUIRE(engine.ok());
    auto h1 = (*engine)->Save(MakeRequest(a, 1));
    REQUIRE(h1.ok());
    REQUIRE((*h1)->Wait().ok());

    ffs.FailNth(c.op, c.nth, c.fault, c.path);
    auto h2 = (*engine)->Save(MakeRequest(b, 2));
    Status s = h2.ok() ? (*h2)->Wait() : h2.status();
    INFO(s.ToString());
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == c.code);
    CHECK(s.message().find(c.names) != std::string::npos);
    CHECK(s.message().find("step 2") != std::string::npos);
    CHECK((*engine)->LatestStep("job", 0) == std::optional<uint64_t>(1));
    CheckRestore(**engine, a, std::nullopt, 1);

    auto stats = (*engine)->Stats();
    CHECK(stats.pool_bytes_free == stats.pool_bytes_total);
    CHECK(stats.inflight == 0);
    CHECK(stats.saves_failed == 1);
    REQUIRE(stats.recent_errors.size() == 1);
    CHECK(ffs.open_files() == 0);
    // No slot leaked: a run of saves, more than the store has slots, commits.
    for (uint64_t step = 3; step < 9; ++step) {
      auto h = (*engine)->Save(MakeRequest(b, step));
      REQUIRE(h.ok());
      REQUIRE((*h)->Wait().ok());
    }
    CheckRestore(**engine, b, std::nullopt, 8);
    CHECK(ffs.open_files() == 0);
  }
}

}  // namespace
}  // namespace pccheck::testing
