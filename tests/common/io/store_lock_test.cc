// StoreLock: one writer per store, a refusal that names the holder, and a
// lock file that readers can read and that goes away with the holder.
#include "io/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "catch.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

TEST_CASE("store lock: a second writer is refused, naming the holder", "[lock]") {
  testing::TempDir dir;
  const StoreLockHolder daemon{4242, "/run/pccheck/pccheckd.sock", "pccheckd"};
  auto first = StoreLock::TryAcquire(dir.path(), daemon);
  REQUIRE(first.status().ToString() == "Ok");
  CHECK(first->held());
  CHECK(first->path() == dir.path() + "/.pccheckd.lock");

  // flock locks belong to open file descriptions: the same process is
  // refused too, as a second process would be.
  auto second = StoreLock::TryAcquire(dir.path(), {::getpid(), "", "pccheck bench"});
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Code::kBusy);
  const std::string& why = second.status().message();
  CHECK(why.find("pccheckd (pid 4242, socket /run/pccheck/pccheckd.sock)") != std::string::npos);
  CHECK(why.find(dir.path()) != std::string::npos);
  CHECK(why.find("stop it first") != std::string::npos);

  // Readers see who holds it, without taking it.
  auto holder = ReadStoreLockHolder(dir.path());
  REQUIRE(holder.ok());
  CHECK(*holder == daemon);
  CHECK(testing::ReadTextFile(first->path()) ==
        "pid=4242\nsocket=/run/pccheck/pccheckd.sock\nowner=pccheckd\n");

  // Released: the file is gone and the next writer gets it.
  first->Release();
  CHECK_FALSE(first->held());
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/.pccheckd.lock"));
  CHECK(ReadStoreLockHolder(dir.path()).status().code() == Code::kNotFound);
  auto third = StoreLock::TryAcquire(dir.path(), {::getpid(), "", "pccheck prune"});
  REQUIRE(third.ok());
  CHECK(ReadStoreLockHolder(dir.path())->owner == "pccheck prune");
}

TEST_CASE("store lock: a stale lock file from a dead holder is taken over", "[lock]") {
  testing::TempDir dir;
  // What a SIGKILLed daemon leaves: the file, with no lock on it.
  std::ofstream(dir.path() + "/.pccheckd.lock")
      << "pid=999999\nsocket=/gone.sock\nowner=pccheckd\n";
  auto lock = StoreLock::TryAcquire(dir.path(), {::getpid(), "/new.sock", "pccheckd"});
  REQUIRE(lock.ok());
  auto holder = ReadStoreLockHolder(dir.path());
  REQUIRE(holder.ok());
  CHECK(holder->pid == ::getpid());
  CHECK(holder->socket == "/new.sock");
}

TEST_CASE("store lock: a lock on an unlinked lock file does not keep the next writer out",
          "[lock]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/.pccheckd.lock";
  // An old file description locked on an inode that is no longer the lock
  // file, as when a releasing holder unlinks it after we opened it.
  int old_fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(old_fd >= 0);
  REQUIRE(::flock(old_fd, LOCK_EX | LOCK_NB) == 0);
  REQUIRE(::unlink(path.c_str()) == 0);
  auto lock = StoreLock::TryAcquire(dir.path(), {::getpid(), "", "pccheck bench"});
  CHECK(lock.ok());
  ::close(old_fd);
}

TEST_CASE("store lock: moving it keeps it held; a missing root is NotFound", "[lock]") {
  testing::TempDir dir;
  auto lock = StoreLock::TryAcquire(dir.path(), {::getpid(), "", "t"});
  REQUIRE(lock.ok());
  StoreLock moved = std::move(lock).value();
  CHECK(moved.held());
  CHECK(StoreLock::TryAcquire(dir.path(), {::getpid(), "", "t"}).status().code() == Code::kBusy);
  CHECK(StoreLock::TryAcquire(dir.path() + "/nope", {1, "", "t"}).status().code() ==
        Code::kNotFound);
}

TEST_CASE("store lock: the file's lines parse back, unknown and torn ones skipped", "[lock]") {
  const StoreLockHolder h{12, "/s", "pccheckd"};
  CHECK(ParseStoreLockHolder(FormatStoreLockHolder(h)) == h);
  CHECK(ParseStoreLockHolder("pid=7\nfuture=x\nsock") == StoreLockHolder{7, "", ""});
  CHECK(ParseStoreLockHolder("pid=-3\npid=abc\n").pid == 0);
  CHECK(ParseStoreLockHolder("").pid == 0);
}

TEST_CASE("store lock: a FIFO in the lock file's place is refused, never waited on",
          "[lock][damage]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/.pccheckd.lock";
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  auto holder = ReadStoreLockHolder(dir.path());
  CHECK(holder.status().code() == Code::kCorruption);
  CHECK(holder.status().message() == path +
                                         " is a FIFO, not the regular file pccheck keeps there: "
                                         "remove it (no running pccheckd or bench created it)");
  auto lock = StoreLock::TryAcquire(dir.path(), {::getpid(), "", "pccheck bench"});
  CHECK(lock.status().code() == Code::kCorruption);
  CHECK(lock.status().message().find(path + " is a FIFO") == 0);
}
}  // namespace
}  // namespace pccheck
