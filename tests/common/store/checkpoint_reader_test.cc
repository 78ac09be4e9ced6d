// The offline reader (store/checkpoint_reader.h) against stores the engine
// wrote: which checkpoint it picks, bit-exact data, kept/, damage, the errors
// it gives, and that it leaves the store exactly as it found it.
#include "store/checkpoint_reader.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "catch.h"
#include "daemon/engine/engine_fixture.h"
#include "store/store_paths.h"
#include "stream_check.h"
#include "support/denying_file_system.h"

namespace pccheck::testing {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A store with steps 1..n of job "job" rank 0 (3 slots), each of `sizes`.
struct Store {
  TempDir dir;
  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  std::map<uint64_t, TensorSet> saved;

  explicit Store(int n, std::vector<size_t> sizes = {70'000, 3, 200'000}) {
    auto gpu = NewFakeGpu();
    auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
    REQUIRE(engine.ok());
    for (int step = 1; step <= n; ++step) {
      saved.emplace(step, TensorSet::Make(sizes, step));
      auto h = (*engine)->Save(MakeRequest(saved.at(step), step));
      REQUIRE(h.ok());
      REQUIRE((*h)->Wait().ok());
    }
  }
  std::string rank_dir() const { return RankDir(dir.path(), "job", 0); }

  ReadRequest Request(std::optional<uint64_t> step = std::nullopt) const {
    ReadRequest r;
    r.root = dir.path();
    r.job = "job";
    r.step = step;
    r.threads = 2;
    return r;
  }

  // Reads and checks that the sink got exactly what was saved at `expect`.
  ReadResult ReadAndCheck(std::optional<uint64_t> step, uint64_t expect) {
    MemorySink sink;
    auto r = ReadStoredCheckpoint(fs.get(), Request(step), &sink);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    const Manifest& m = r->checkpoint.manifest;
    CHECK(m.step == expect);
    CHECK(m.user_blob == "blob of step " + std::to_string(expect));
    CheckStream(sink, m, saved.at(expect));
    return std::move(r).value();
  }
};

// Every file under root with its size and last modification.
std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> Snapshot(
    const std::string& root) {
  std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    out[e.path().string()] = {e.is_regular_file() ? e.file_size() : 0, e.last_write_time()};
  }
  return out;
}

// The data file holding `step` in the ring.
std::string DataOf(Store& s, uint64_t step) {
  auto scan = ScanRank(s.fs.get(), s.rank_dir(), "job", 0);
  REQUIRE(scan.ok());
  for (const auto& c : scan->ring) {
    if (c.manifest.step == step) return c.data_path;
  }
  FAIL("step " << step << " is not in the ring");
  return "";
}

// Moves step's ring slot into kept/, as retention does.
void Keep(Store& s, uint64_t step) {
  auto scan = ScanRank(s.fs.get(), s.rank_dir(), "job", 0);
  REQUIRE(scan.ok());
  for (const auto& c : scan->ring) {
    if (c.manifest.step != step) continue;
    REQUIRE(s.fs->CreateDirs(KeptDir(s.rank_dir())).ok());
    REQUIRE(s.fs->Rename(c.data_path, KeptDataPath(s.rank_dir(), step)).ok());
    REQUIRE(s.fs->Rename(c.manifest_path, KeptManifestPath(s.rank_dir(), step)).ok());
    return;
  }
  FAIL("step " << step << " is not in the ring");
}

TEST_CASE("the reader picks the newest checkpoint and reads it bit-exact", "[store]") {
  Store s(3);
  auto r = s.ReadAndCheck(std::nullopt, 3);
  CHECK(r.checkpoint.latest);
  CHECK(r.attempts == 1);
  CHECK(r.skipped.empty());
  s.ReadAndCheck(2, 2);
  s.ReadAndCheck(1, 1);
}

TEST_CASE("the reader changes nothing and ignores the daemon's lock", "[store]") {
  Store s(2);
  // What recovery would clean up: a torn temp file and a data file without
  // a manifest. A reader must leave both.
  REQUIRE(s.fs->WriteFileAtomic(JoinPath(s.rank_dir(), "latest.tmp"), "torn").ok());
  REQUIRE(s.fs->WriteFileAtomic(SlotDataPath(s.rank_dir(), 7), "orphan").ok());
  // A daemon holding the store's lock: readers never take it, so never wait.
  const std::string lock = JoinPath(s.dir.path(), ".pccheckd.lock");
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  const auto before = Snapshot(s.dir.path());

  s.ReadAndCheck(std::nullopt, 2);
  s.ReadAndCheck(1, 1);

  CHECK(Snapshot(s.dir.path()) == before);
  ::close(fd);
}

TEST_CASE("an explicit step is found in kept/ as well as in the ring", "[store]") {
  Store s(3);
  Keep(s, 1);
  auto r = s.ReadAndCheck(1, 1);
  CHECK_FALSE(r.checkpoint.slot.has_value());
  CHECK(r.checkpoint.data_path == KeptDataPath(s.rank_dir(), 1));
  s.ReadAndCheck(std::nullopt, 3);
}

TEST_CASE("kept checkpoints are fallbacks when the ring holds none that verifies", "[store]") {
  Store s(2);
  Keep(s, 1);
  FlipByte(DataOf(s, 2), 100);
  auto r = s.ReadAndCheck(std::nullopt, 1);
  REQUIRE(r.skipped.size() == 1);
  CHECK(Contains(r.skipped[0], "step 2"));
}

TEST_CASE("a step that is not in the store is refused naming the steps there", "[store]") {
  Store s(3);
  Keep(s, 1);
  MemorySink sink;
  auto r = ReadStoredCheckpoint(s.fs.get(), s.Request(9), &sink);
  REQUIRE(r.status().code() == Code::kNotFound);
  INFO(r.status().message());
  CHECK(Contains(r.status().message(), "step 9 of job job rank 0 is not in the store"));
  CHECK(Contains(r.status().message(), "steps there: 1 (kept), 2, 3 (latest)"));
}

TEST_CASE("a damaged chunk is refused for its step and skipped for the newest", "[store]") {
  Store s(2);
  const std::string data = DataOf(s, 2);
  FlipByte(data, 150'000);  // chunk 2 of 64 KiB chunks

  MemorySink sink;
  auto r = ReadStoredCheckpoint(s.fs.get(), s.Request(2), &sink);
  REQUIRE(r.status().code() == Code::kCorruption);
  INFO(r.status().message());
  CHECK(Contains(r.status().message(), "checksum mismatch in chunk 2 of step 2"));
  CHECK(Contains(r.status().message(), data));

  auto newest = s.ReadAndCheck(std::nullopt, 1);
  REQUIRE(newest.skipped.size() == 1);
  CHECK(Contains(newest.skipped[0], "chunk 2"));
}

TEST_CASE("when nothing verifies the reader says why for each step", "[store]") {
  Store s(2);
  FlipByte(DataOf(s, 1), 10);
  FlipByte(DataOf(s, 2), 10);
  MemorySink sink;
  auto r = ReadStoredCheckpoint(s.fs.get(), s.Request(), &sink);
  REQUIRE(r.status().code() == Code::kCorruption);
  INFO(r.status().message());
  CHECK(Contains(r.status().message(), "no committed checkpoint of job job rank 0"));
  CHECK(Contains(r.status().message(), "step 2: checksum mismatch in chunk 0"));
  CHECK(Contains(r.status().message(), "step 1: checksum mismatch in chunk 0"));
}

TEST_CASE("a damaged latest record falls back to the newest manifest", "[store]") {
  Store s(2);
  REQUIRE(s.fs->WriteFileAtomic(LatestPath(s.rank_dir()), "garbage").ok());
  s.ReadAndCheck(std::nullopt, 2);
}

TEST_CASE("a missing store, job or rank is NotFound naming the path and what exists", "[store]") {
  Store s(1);
  MemorySink sink;
  ReadRequest r = s.Request();
  r.root = s.dir.path() + "/nope";
  auto missing = ReadStoredCheckpoint(s.fs.get(), r, &sink);
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK(Contains(missing.status().message(), r.root));

  r = s.Request();
  r.job = "other";
  auto job = ReadStoredCheckpoint(s.fs.get(), r, &sink);
  CHECK(job.status().code() == Code::kNotFound);
  INFO(job.status().message());
  CHECK(Contains(job.status().message(), "the store holds job job (rank 0)"));

  r = s.Request();
  r.rank = 3;
  CHECK(ReadStoredCheckpoint(s.fs.get(), r, &sink).status().code() == Code::kNotFound);

  r = s.Request();
  r.job = "../escape";
  CHECK(ReadStoredCheckpoint(s.fs.get(), r, &sink).status().code() == Code::kInvalidArgument);
}

TEST_CASE("an empty rank directory has no committed checkpoint to read", "[store]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  REQUIRE(fs->CreateDirs(RankDir(dir.path(), "job", 0)).ok());
  ReadRequest r;
  r.root = dir.path();
  r.job = "job";
  MemorySink sink;
  auto read = ReadStoredCheckpoint(fs.get(), r, &sink);
  CHECK(read.status().code() == Code::kNotFound);
  CHECK(Contains(read.status().message(), "steps there: none"));
}

// The manifest file holding `step` in the ring.
std::string ManifestOf(Store& s, uint64_t step) {
  auto scan = ScanRank(s.fs.get(), s.rank_dir(), "job", 0);
  REQUIRE(scan.ok());
  for (const auto& c : scan->ring) {
    if (c.manifest.step == step) return c.manifest_path;
  }
  FAIL("step " << step << " is not in the ring");
  return "";
}

// Replaces `path` with a FIFO, which a reader opening it blocking would wait on for good.
void MakeFifo(const std::string& path) {
  std::filesystem::remove(path);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
}

TEST_CASE("a missing data file falls back to the previous verified checkpoint", "[store][damage]") {
  Store s(3);
  const std::string data = DataOf(s, 3);
  std::filesystem::remove(data);
  auto r = s.ReadAndCheck(std::nullopt, 2);
  REQUIRE(r.skipped.size() == 1);
  CHECK(Contains(r.skipped[0], "step 3: the data file of step 3 is missing"));
  CHECK(Contains(r.skipped[0], data));

  MemorySink sink;
  auto explicit_step = ReadStoredCheckpoint(s.fs.get(), s.Request(3), &sink);
  CHECK(explicit_step.status().code() == Code::kCorruption);
  CHECK(Contains(explicit_step.status().message(), "step 3 is damaged"));
}

TEST_CASE("a manifest claiming a 1 TiB chunk is damage and the reader falls back",
          "[store][damage]") {
  Store s(3);
  const std::string path = ManifestOf(s, 3);
  auto m = DecodeManifest(s.fs->ReadWholeFile(path).value());
  REQUIRE(m.ok());
  m->chunk_bytes = 1ull << 40;  // one chunk holds it all: the checksums still match
  m->chunk_crcs.resize(1);
  REQUIRE(s.fs->WriteFileAtomic(path, EncodeManifest(*m)).ok());

  s.ReadAndCheck(std::nullopt, 2);
  auto scan = ScanRank(s.fs.get(), s.rank_dir(), "job", 0);
  REQUIRE(scan.ok());
  REQUIRE(scan->damaged.size() == 1);
  CHECK(scan->damaged[0].path == path);
  CHECK(Contains(scan->damaged[0].why, "chunk_bytes 1099511627776 is larger than a chunk can be"));
}

TEST_CASE("a manifest claiming more data than its file holds is damage", "[store][damage]") {
  Store s(3, {70'000});
  const std::string path = ManifestOf(s, 3);
  auto m = DecodeManifest(s.fs->ReadWholeFile(path).value());
  REQUIRE(m.ok());
  // Consistent in itself: one chunk of at most 1 GiB, its tensor inside.
  m->chunk_bytes = 1ull << 30;
  m->data_bytes = 1ull << 30;
  m->chunk_crcs.resize(1);
  REQUIRE(s.fs->WriteFileAtomic(path, EncodeManifest(*m)).ok());

  auto r = s.ReadAndCheck(std::nullopt, 2);
  REQUIRE(r.skipped.size() == 1);
  CHECK(Contains(r.skipped[0], "needs 1073741824"));
}

TEST_CASE("latest as a FIFO or a link to /dev/zero is passed over at once", "[store][damage]") {
  Store s(3);
  const std::string latest = LatestPath(s.rank_dir());
  MakeFifo(latest);
  s.ReadAndCheck(std::nullopt, 3);
  auto scan = ScanRank(s.fs.get(), s.rank_dir(), "job", 0);
  REQUIRE(scan.ok());
  CHECK(Contains(scan->latest_problem, latest + " is a FIFO, not a regular file"));

  std::filesystem::remove(latest);
  std::filesystem::create_symlink("/dev/zero", latest);
  s.ReadAndCheck(std::nullopt, 3);
  scan = ScanRank(s.fs.get(), s.rank_dir(), "job", 0);
  REQUIRE(scan.ok());
  CHECK(Contains(scan->latest_problem, latest + " is a symbolic link, not a regular file"));
}

TEST_CASE("a manifest or data file that is a FIFO is damage, never waited on", "[store][damage]") {
  Store s(3);
  const std::string manifest = ManifestOf(s, 3);
  const std::string data = DataOf(s, 2);
  MakeFifo(manifest);
  MakeFifo(data);
  auto r = s.ReadAndCheck(std::nullopt, 1);
  REQUIRE(r.skipped.size() == 1);
  CHECK(Contains(r.skipped[0], data + " is a FIFO"));
  auto scan = ScanRank(s.fs.get(), s.rank_dir(), "job", 0);
  REQUIRE(scan.ok());
  REQUIRE(scan->damaged.size() == 1);
  CHECK(Contains(scan->damaged[0].why, manifest + " is a FIFO"));
}

TEST_CASE("an unreadable store root says it is unreadable", "[store][damage]") {
  Store s(1);
  DenyingFileSystem fs(s.fs.get());
  fs.Deny(s.dir.path());
  MemorySink sink;
  auto r = ReadStoredCheckpoint(&fs, s.Request(), &sink);
  REQUIRE(r.status().code() == Code::kPermissionDenied);
  INFO(r.status().message());
  CHECK(Contains(r.status().message(), s.dir.path() + " cannot be read"));
  CHECK(Contains(r.status().message(), "Permission denied"));
  CHECK_FALSE(Contains(r.status().message(), "does not exist"));
}

}  // namespace
}  // namespace pccheck::testing
