// FaultFileSystem: injected faults fire on exactly the chosen call, and a
// simulated power loss keeps exactly what was made durable.
#include "support/fault_file_system.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "catch.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

using Fault = FaultFileSystem::Fault;
using Op = FaultFileSystem::Op;
using testing::RandomBytes;
using testing::TempDir;

constexpr const char* kMissing = "<missing>";

OpenOptions Create(bool direct = false) {
  OpenOptions o;
  o.write = o.create = true;
  o.direct = direct;
  return o;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A FaultFileSystem over a fresh temporary directory.
struct Env {
  TempDir dir;
  std::unique_ptr<FileSystem> posix = NewPosixFileSystem();
  std::unique_ptr<FaultFileSystem> fs;

  Env() { fs = std::make_unique<FaultFileSystem>(posix.get(), dir.path()); }
  std::string P(const std::string& name) const { return JoinPath(dir.path(), name); }
  // What the real disk holds now, bypassing the wrapper.
  std::string OnDisk(const std::string& name) const {
    auto r = posix->ReadWholeFile(P(name));
    return r.ok() ? *r : kMissing;
  }
};

// Writes data at offset 0 of name (created if missing), syncing it if asked.
Status Put(FileSystem& fs, const std::string& path, const std::string& data, bool sync) {
  PCC_ASSIGN_OR_RETURN(auto file, fs.Open(path, Create()));
  PCC_RETURN_IF_ERROR(file->WriteAt(data.data(), data.size(), 0));
  return sync ? file->Sync() : Status::Ok();
}

// Writes, syncs the data and syncs the directory: fully durable.
void PutDurable(Env& env, const std::string& name, const std::string& data) {
  REQUIRE(Put(*env.fs, env.P(name), data, true).ok());
  REQUIRE(env.fs->SyncDir(DirName(env.P(name))).ok());
}

// Makes exactly one call of `op` on `path` (after any set-up it needs, which
// uses other ops) and returns that call's status.
Status CallOnce(FaultFileSystem& fs, Op op, const std::string& path) {
  if (op == Op::kOpen) return fs.Open(path, Create()).status();
  if (op == Op::kCreateDirs) return fs.CreateDirs(path);
  if (op == Op::kSyncDir) {
    PCC_RETURN_IF_ERROR(fs.CreateDirs(path));
    return fs.SyncDir(path);
  }
  PCC_ASSIGN_OR_RETURN(auto file, fs.Open(path, Create()));
  char buf[4] = "abc";
  size_t got = 0;
  switch (op) {
    case Op::kWrite:
      return file->WriteAt(buf, 3, 0);
    case Op::kRead:
      return file->ReadAt(buf, 3, 0, &got);
    case Op::kSync:
      return file->Sync();
    case Op::kAllocate:
      return file->Allocate(4096);
    case Op::kTruncate:
      return file->Truncate(1);
    case Op::kRename:
      return fs.Rename(path, path + ".renamed");
    case Op::kRemove:
      return fs.Remove(path);
    default:
      return Status::Internal("unhandled op");
  }
}

TEST_CASE("FaultFileSystem fails the nth call of each op, only on matching paths", "[io]") {
  for (int i = 0; i < FaultFileSystem::kNumOps; ++i) {
    const Op op = static_cast<Op>(i);
    const std::string op_name = FaultFileSystem::OpName(op);
    CAPTURE(op_name);
    Env env;
    const std::string target = env.P("target-" + op_name);
    const std::string other = env.P("other-" + op_name);
    env.fs->FailNth(op, 2, Fault::kEio, "target-");
    CHECK(CallOnce(*env.fs, op, other).ok());  // other paths do not count
    CHECK(CallOnce(*env.fs, op, other).ok());
    CHECK(CallOnce(*env.fs, op, target).ok());  // the 1st matching call
    Status s = CallOnce(*env.fs, op, target);   // the 2nd fails
    CHECK(s.code() == Code::kIoError);
    CHECK(Contains(s.message(), target));
    CHECK(Contains(s.message(), std::strerror(EIO)));
    CHECK(Contains(s.message(), "injected"));
    CHECK(CallOnce(*env.fs, op, target).ok());  // one-shot
    CHECK(env.fs->calls(op) == 5);
    CHECK(env.fs->open_files() == 0);
  }
}

TEST_CASE("FaultFileSystem counts n from the FailNth call; sticky keeps failing", "[io]") {
  Env env;
  const std::string f = env.P("f");
  REQUIRE(Put(*env.fs, f, "x", false).ok());
  REQUIRE(Put(*env.fs, f, "x", false).ok());
  env.fs->FailNth(Op::kWrite, 1, Fault::kEio, "", /*sticky=*/true);
  CHECK(!Put(*env.fs, f, "x", false).ok());
  CHECK(!Put(*env.fs, f, "x", false).ok());
  CHECK(!Put(*env.fs, f, "x", false).ok());
  env.fs->ClearFaults();
  CHECK(Put(*env.fs, f, "x", false).ok());

  env.fs->FailNth(Op::kWrite, 2, Fault::kEio, "", /*sticky=*/true);
  CHECK(Put(*env.fs, f, "x", false).ok());
  CHECK(!Put(*env.fs, f, "x", false).ok());
  CHECK(!Put(*env.fs, f, "x", false).ok());
}

TEST_CASE("FaultFileSystem Rename faults match either path", "[io]") {
  Env env;
  REQUIRE(Put(*env.fs, env.P("a"), "x", false).ok());
  env.fs->FailNth(Op::kRename, 1, Fault::kEio, "/dest");
  Status s = env.fs->Rename(env.P("a"), env.P("dest"));
  CHECK(s.code() == Code::kIoError);
  CHECK(Contains(s.message(), env.P("a") + " -> " + env.P("dest")));
}

TEST_CASE("FaultFileSystem injected failures have no effect", "[io]") {
  Env env;
  REQUIRE(Put(*env.fs, env.P("f"), "old", false).ok());
  env.fs->FailNth(Op::kWrite, 1, Fault::kEio);
  CHECK(!Put(*env.fs, env.P("f"), "new", false).ok());
  CHECK(env.OnDisk("f") == "old");

  env.fs->FailNth(Op::kRename, 1, Fault::kEio);
  CHECK(!env.fs->Rename(env.P("f"), env.P("g")).ok());
  CHECK(env.OnDisk("f") == "old");
  CHECK(env.OnDisk("g") == kMissing);

  env.fs->FailNth(Op::kRemove, 1, Fault::kEio);
  CHECK(!env.fs->Remove(env.P("f")).ok());
  CHECK(env.OnDisk("f") == "old");

  env.fs->FailNth(Op::kCreateDirs, 1, Fault::kEio);
  CHECK(!env.fs->CreateDirs(env.P("d")).ok());
  CHECK(!env.posix->Exists(env.P("d")));

  env.fs->FailNth(Op::kOpen, 1, Fault::kEio);
  CHECK(!env.fs->Open(env.P("new"), Create()).ok());
  CHECK(!env.posix->Exists(env.P("new")));
}

TEST_CASE("FaultFileSystem kEnospc is Code::kNoSpace", "[io]") {
  Env env;
  env.fs->FailNth(Op::kWrite, 1, Fault::kEnospc);
  Status s = Put(*env.fs, env.P("f"), "data", false);
  CHECK(s.code() == Code::kNoSpace);
  CHECK(Contains(s.message(), "pwrite " + env.P("f")));
  env.fs->FailNth(Op::kAllocate, 1, Fault::kEnospc);
  auto file = env.fs->Open(env.P("f"), Create());
  REQUIRE(file.ok());
  CHECK((*file)->Allocate(1 << 20).code() == Code::kNoSpace);
}

TEST_CASE("FaultFileSystem short write writes about half, then fails naming the file", "[io]") {
  Env env;
  auto data = RandomBytes(8192, 1);
  env.fs->FailNth(Op::kWrite, 1, Fault::kShortWrite);
  auto file = env.fs->Open(env.P("f"), Create());
  REQUIRE(file.ok());
  Status s = (*file)->WriteAt(data.data(), data.size(), 0);
  CHECK(s.code() == Code::kIoError);
  CHECK(Contains(s.message(), "short write " + env.P("f")));
  CHECK(env.OnDisk("f") == std::string(data.begin(), data.begin() + 4096));

  SECTION("an O_DIRECT write stays aligned") {
    constexpr size_t kLen = 3 * kDirectAlign;
    std::unique_ptr<void, decltype(&std::free)> buf(std::aligned_alloc(kDirectAlign, kLen),
                                                    &std::free);
    std::memset(buf.get(), 'z', kLen);
    auto direct = env.fs->Open(env.P("d"), Create(/*direct=*/true));
    REQUIRE(direct.ok());
    env.fs->FailNth(Op::kWrite, 1, Fault::kShortWrite);
    CHECK(!(*direct)->WriteAt(buf.get(), kLen, 0).ok());
    CHECK(env.OnDisk("d") == std::string(kDirectAlign, 'z'));
  }
}

TEST_CASE("PowerLoss drops data written since the last Sync and keeps synced data", "[io]") {
  Env env;
  PutDurable(env, "f", "synced-1");
  REQUIRE(Put(*env.fs, env.P("f"), "unsynced-and-longer", false).ok());
  CHECK(env.OnDisk("f") == "unsynced-and-longer");
  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(env.OnDisk("f") == "synced-1");

  REQUIRE(Put(*env.fs, env.P("f"), "synced-2", true).ok());  // dir already durable
  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(env.OnDisk("f") == "synced-2");
}

TEST_CASE("PowerLoss: a file never synced, in a synced directory, comes back empty", "[io]") {
  Env env;
  REQUIRE(Put(*env.fs, env.P("f"), "never synced", false).ok());
  REQUIRE(env.fs->SyncDir(env.dir.path()).ok());
  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(env.OnDisk("f") == "");
}

TEST_CASE("PowerLoss: a file created but whose directory was never synced vanishes", "[io]") {
  Env env;
  REQUIRE(Put(*env.fs, env.P("f"), "data synced", true).ok());
  REQUIRE(env.fs->CreateDirs(env.P("sub")).ok());
  REQUIRE(Put(*env.fs, env.P("sub/g"), "data synced", true).ok());
  REQUIRE(env.fs->SyncDir(env.dir.path()).ok());  // makes f durable, not sub/g
  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(env.OnDisk("f") == "data synced");
  CHECK(env.OnDisk("sub/g") == kMissing);
  CHECK(env.posix->Exists(env.P("sub")));  // directories are durable once created
}

TEST_CASE("PowerLoss: a rename is undone without SyncDir and kept with it", "[io]") {
  Env env;
  PutDurable(env, "a", "A");
  PutDurable(env, "b", "B");

  SECTION("without SyncDir") {
    REQUIRE(env.fs->Rename(env.P("a"), env.P("c")).ok());
    REQUIRE(env.fs->Rename(env.P("b"), env.P("a")).ok());  // over an existing file
    REQUIRE(env.fs->PowerLoss().ok());
    CHECK(env.OnDisk("a") == "A");
    CHECK(env.OnDisk("b") == "B");
    CHECK(env.OnDisk("c") == kMissing);
  }
  SECTION("with SyncDir") {
    REQUIRE(env.fs->Rename(env.P("a"), env.P("c")).ok());
    REQUIRE(env.fs->Rename(env.P("b"), env.P("a")).ok());
    REQUIRE(env.fs->SyncDir(env.dir.path()).ok());
    REQUIRE(env.fs->PowerLoss().ok());
    CHECK(env.OnDisk("a") == "B");
    CHECK(env.OnDisk("b") == kMissing);
    CHECK(env.OnDisk("c") == "A");
  }
  SECTION("a directory rename is durable at once, with its files") {
    REQUIRE(env.fs->CreateDirs(env.P("d1")).ok());
    PutDurable(env, "d1/f", "F");
    REQUIRE(env.fs->Rename(env.P("d1"), env.P("d2")).ok());
    REQUIRE(env.fs->PowerLoss().ok());
    CHECK(env.OnDisk("d2/f") == "F");
    CHECK(env.OnDisk("d1/f") == kMissing);
  }
}

TEST_CASE("PowerLoss: a removal is undone without SyncDir and kept with it", "[io]") {
  Env env;
  PutDurable(env, "f", "durable");
  REQUIRE(Put(*env.fs, env.P("f"), "later, unsynced", false).ok());
  REQUIRE(env.fs->Remove(env.P("f")).ok());
  CHECK(env.OnDisk("f") == kMissing);
  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(env.OnDisk("f") == "durable");

  REQUIRE(env.fs->Remove(env.P("f")).ok());
  REQUIRE(env.fs->SyncDir(env.dir.path()).ok());
  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(env.OnDisk("f") == kMissing);
}

TEST_CASE("FaultFileSystem: files present at construction are durable", "[io]") {
  TempDir dir;
  auto posix = NewPosixFileSystem();
  REQUIRE(posix->CreateDirs(JoinPath(dir.path(), "job/0")).ok());
  REQUIRE(posix->WriteFileAtomic(JoinPath(dir.path(), "job/0/latest"), "slot-1").ok());
  FaultFileSystem fs(posix.get(), dir.path());
  REQUIRE(Put(fs, JoinPath(dir.path(), "job/0/latest"), "torn!!", false).ok());
  REQUIRE(fs.PowerLoss().ok());
  auto latest = posix->ReadWholeFile(JoinPath(dir.path(), "job/0/latest"));
  REQUIRE(latest.ok());
  CHECK(latest.value() == "slot-1");
}

TEST_CASE("FaultFileSystem: CrashAtSyncPoint stops every effect from that point", "[io]") {
  Env env;
  REQUIRE(env.fs->sync_points() == 0);
  PutDurable(env, "f", "v1");  // sync points 1 and 2
  CHECK(env.fs->sync_points() == 2);
  env.fs->CrashAtSyncPoint(2);                         // the 4th
  REQUIRE(Put(*env.fs, env.P("f"), "v2", true).ok());  // sync point 3
  auto file = env.fs->Open(env.P("f"), Create());
  REQUIRE(file.ok());
  REQUIRE((*file)->WriteAt("v3", 2, 0).ok());
  CHECK(!env.fs->crashed());

  Status s = (*file)->Sync();  // sync point 4: the power fails
  CHECK(s.code() == Code::kIoError);
  CHECK(Contains(s.message(), "simulated power loss"));
  CHECK(Contains(s.message(), env.P("f")));
  CHECK(env.fs->crashed());
  CHECK(env.fs->sync_points() == 4);

  // Everything fails from now on and changes nothing.
  CHECK(!(*file)->WriteAt("v4", 2, 0).ok());
  CHECK(env.OnDisk("f") == "v3");
  CHECK(!(*file)->Sync().ok());
  CHECK(!(*file)->Truncate(0).ok());
  CHECK(!(*file)->Size().ok());
  CHECK(!env.fs->Open(env.P("g"), Create()).ok());
  CHECK(!env.posix->Exists(env.P("g")));
  CHECK(!env.fs->CreateDirs(env.P("d")).ok());
  CHECK(!env.posix->Exists(env.P("d")));
  CHECK(!env.fs->Rename(env.P("f"), env.P("h")).ok());
  CHECK(!env.fs->Remove(env.P("f")).ok());
  CHECK(env.OnDisk("f") == "v3");
  CHECK(!env.fs->SyncDir(env.dir.path()).ok());
  CHECK(!env.fs->List(env.dir.path()).ok());
  CHECK(!env.fs->Exists(env.P("f")));
  CHECK(env.fs->sync_points() == 4);  // calls after the crash do not count

  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(!env.fs->crashed());
  CHECK(env.OnDisk("f") == "v2");  // the last Sync that returned ok
  auto through = env.fs->ReadWholeFile(env.P("f"));
  REQUIRE(through.ok());
  CHECK(through.value() == "v2");
}

TEST_CASE("WriteFileAtomic under a crash at each sync point: old or new, never torn", "[io]") {
  int points = 0;
  {
    Env env;
    REQUIRE(env.fs->WriteFileAtomic(env.P("latest"), "old").ok());
    int before = env.fs->sync_points();
    REQUIRE(env.fs->WriteFileAtomic(env.P("latest"), "new content").ok());
    points = env.fs->sync_points() - before;
  }
  CHECK(points == 3);  // Sync, Rename, SyncDir
  for (int crash_at = 1; crash_at <= points + 1; ++crash_at) {
    CAPTURE(crash_at);
    Env env;
    REQUIRE(env.fs->WriteFileAtomic(env.P("latest"), "old").ok());
    env.fs->CrashAtSyncPoint(crash_at);
    Status s = env.fs->WriteFileAtomic(env.P("latest"), "new content");
    CHECK(s.ok() == (crash_at > points));
    REQUIRE(env.fs->PowerLoss().ok());
    std::string got = env.OnDisk("latest");
    if (s.ok()) {
      CHECK(got == "new content");
    } else {
      CHECK((got == "old" || got == "new content"));
    }
    CHECK(env.OnDisk("latest.tmp") == kMissing);
  }
}

TEST_CASE("FaultFileSystem open_files counts live files; old files die at PowerLoss", "[io]") {
  Env env;
  CHECK(env.fs->open_files() == 0);
  auto a = env.fs->Open(env.P("a"), Create());
  auto b = env.fs->Open(env.P("b"), Create());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(env.fs->open_files() == 2);
  b = Status::Aborted("closed");
  CHECK(env.fs->open_files() == 1);
  REQUIRE(env.fs->PowerLoss().ok());
  Status s = (*a)->WriteAt("x", 1, 0);
  CHECK(s.code() == Code::kIoError);
  CHECK(Contains(s.message(), "before a simulated power loss"));
  a = Status::Aborted("closed");
  CHECK(env.fs->open_files() == 0);
}

TEST_CASE("FaultFileSystem passes O_DIRECT writes through and tracks them", "[io]") {
  Env env;
  constexpr size_t kLen = 2 * kDirectAlign;
  auto want = RandomBytes(kLen, 5);
  std::unique_ptr<void, decltype(&std::free)> buf(std::aligned_alloc(kDirectAlign, kLen),
                                                  &std::free);
  std::memcpy(buf.get(), want.data(), kLen);
  {
    auto file = env.fs->Open(env.P("slot"), Create(/*direct=*/true));
    REQUIRE(file.ok());
    CHECK((*file)->direct());
    REQUIRE((*file)->WriteAt(buf.get(), kLen, 0).ok());
    REQUIRE((*file)->Sync().ok());
    REQUIRE(env.fs->SyncDir(env.dir.path()).ok());
    REQUIRE((*file)->WriteAt(buf.get(), kDirectAlign, kLen).ok());  // unsynced
  }
  REQUIRE(env.fs->PowerLoss().ok());
  CHECK(env.OnDisk("slot") == std::string(want.begin(), want.end()));
}

TEST_CASE("FaultFileSystem with concurrent writers", "[io]") {
  Env env;
  constexpr int kThreads = 8;
  constexpr size_t kChunk = 4096, kChunks = 16;
  std::vector<std::thread> threads;
  std::vector<Status> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      results[t] = [&]() -> Status {
        auto data = RandomBytes(kChunk * kChunks, t);
        PCC_ASSIGN_OR_RETURN(auto file, env.fs->Open(env.P("f" + std::to_string(t)), Create()));
        for (size_t c = 0; c < kChunks; ++c) {
          PCC_RETURN_IF_ERROR(file->WriteAt(&data[c * kChunk], kChunk, c * kChunk));
        }
        return t % 2 == 0 ? file->Sync() : Status::Ok();  // odd ones never sync
      }();
    });
  }
  for (auto& th : threads) th.join();
  for (const Status& s : results) REQUIRE(s.ok());
  CHECK(env.fs->calls(Op::kWrite) == kThreads * kChunks);
  REQUIRE(env.fs->SyncDir(env.dir.path()).ok());
  REQUIRE(env.fs->PowerLoss().ok());
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    auto data = RandomBytes(kChunk * kChunks, t);
    std::string want = t % 2 == 0 ? std::string(data.begin(), data.end()) : "";
    CHECK(env.OnDisk("f" + std::to_string(t)) == want);
  }
}

}  // namespace
}  // namespace pccheck
