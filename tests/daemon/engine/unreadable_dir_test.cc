// A job or rank directory that cannot be read is set aside when the engine
// opens the store: it is listed as unreadable and every other job and rank is
// served. Only a store root that cannot be listed stops the engine.
#include <filesystem>
#include <fstream>
#include <tuple>

#include "catch.h"
#include "engine_fixture.h"
#include "support/denying_file_system.h"

namespace pccheck::testing {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Steps 1 and 2 of job "a" and step 1 of job "b", rank 0 each.
void SaveTwoJobs(FileSystem* fs, const std::string& root, const TensorSet& a1, const TensorSet& a2,
                 const TensorSet& b1) {
  auto gpu = NewFakeGpu();
  auto engine = Engine::Open(SmallOptions(root), fs, gpu.get());
  REQUIRE(engine.ok());
  using Step = std::tuple<const TensorSet*, uint64_t, std::string>;
  for (const auto& [set, step, job] :
       std::vector<Step>{{&a1, 1, "a"}, {&a2, 2, "a"}, {&b1, 1, "b"}}) {
    auto h = (*engine)->Save(MakeRequest(*set, step, job));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
  }
}

std::vector<CheckpointInfo> Of(const std::vector<CheckpointInfo>& list, const std::string& job) {
  std::vector<CheckpointInfo> out;
  for (const auto& c : list) {
    if (c.job == job) out.push_back(c);
  }
  return out;
}

// Two jobs saved through the real file system, opened again through one
// that denies the directories a test names.
struct DeniedStore {
  DeniedStore() { SaveTwoJobs(posix.get(), dir.path(), a1, a2, b1); }
  TempDir dir;
  std::unique_ptr<FileSystem> posix = NewPosixFileSystem();
  const TensorSet a1 = TensorSet::Make({9'000}, 1), a2 = TensorSet::Make({9'000}, 2),
                  b1 = TensorSet::Make({9'000}, 3);
  DenyingFileSystem fs{posix.get()};
};

TEST_CASE("one damaged rank directory never stops the others", "[engine][damage]") {
  TempDir dir;
  auto fs = NewPosixFileSystem();
  auto gpu = NewFakeGpu();
  const auto a1 = TensorSet::Make({70'000, 3}, 1), a2 = TensorSet::Make({70'000, 3}, 2),
             b1 = TensorSet::Make({5'000}, 3), b2 = TensorSet::Make({5'000}, 4);
  SaveTwoJobs(fs.get(), dir.path(), a1, a2, b1);
  const std::string b_dir = dir.path() + "/b/rank-0";
  std::ofstream(b_dir + "/kept") << "not a directory";

  auto engine = Engine::Open(SmallOptions(dir.path()), fs.get(), gpu.get());
  INFO(engine.status().ToString());
  REQUIRE(engine.ok());
  auto unreadable = (*engine)->Unreadable();
  REQUIRE(unreadable.size() == 1);
  CHECK(unreadable[0].job == "b");
  CHECK(unreadable[0].rank == std::optional<uint32_t>(0));
  CHECK(unreadable[0].path == b_dir);
  CHECK(Contains(unreadable[0].why, b_dir + "/kept: Not a directory"));
  CHECK(Contains(unreadable[0].why, "move it out of the store"));

  const auto list = (*engine)->List();
  CHECK(Of(list, "a").size() == 2);
  const auto b = Of(list, "b");
  REQUIRE(b.size() == 1);
  CHECK(b[0].state == kUnreadableDirState + unreadable[0].why);
  CHECK_FALSE(b[0].latest);

  // Job a is served as before: restored, verified, saved to.
  CheckRestore(**engine, a2, std::nullopt, 2, "a");
  CHECK((*engine)->Verify("a", 0, 1).ok());
  auto saved = (*engine)->Save(MakeRequest(a1, 3, "a"));
  REQUIRE(saved.ok());
  CHECK((*saved)->Wait().ok());
  // Job b's requests fail naming its directory.
  auto out = b1.EmptyLike();
  auto restored = (*engine)->Restore("b", 0, std::nullopt, out.Dests());
  CHECK_FALSE(restored.ok());
  CHECK(Contains(restored.status().message(), b_dir));

  // Repaired, the rank is read again by its next request, and served.
  std::filesystem::remove(b_dir + "/kept");
  auto again = (*engine)->Save(MakeRequest(b2, 2, "b"));
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK((*again)->Wait().ok());
  CHECK((*engine)->Unreadable().empty());
  CheckRestore(**engine, b2, std::nullopt, 2, "b");
}

TEST_CASE("a job directory that cannot be listed never stops the others", "[engine][damage]") {
  DeniedStore store;
  TempDir& dir = store.dir;
  DenyingFileSystem& fs = store.fs;
  fs.Deny(dir.path() + "/b");
  auto gpu = NewFakeGpu();

  auto engine = Engine::Open(SmallOptions(dir.path()), &fs, gpu.get());
  INFO(engine.status().ToString());
  REQUIRE(engine.ok());
  auto unreadable = (*engine)->Unreadable();
  REQUIRE(unreadable.size() == 1);
  CHECK(unreadable[0].job == "b");
  CHECK_FALSE(unreadable[0].rank.has_value());
  CHECK(Contains(unreadable[0].why, dir.path() + "/b cannot be listed"));
  CHECK(Contains(unreadable[0].why, "Permission denied"));
  CHECK(Contains(unreadable[0].why, "none of the ranks of job b is served"));
  const auto b = Of((*engine)->List(), "b");
  REQUIRE(b.size() == 1);
  CHECK(b[0].state.starts_with(kUnreadableDirState));
  CheckRestore(**engine, store.a2, std::nullopt, 2, "a");
}

TEST_CASE("an unreadable store root stops the engine, saying so", "[engine][damage]") {
  DeniedStore store;
  TempDir& dir = store.dir;
  DenyingFileSystem& fs = store.fs;
  fs.Deny(dir.path());
  auto gpu = NewFakeGpu();
  EngineOptions options = SmallOptions(dir.path());
  options.read_only = true;

  auto engine = Engine::Open(options, &fs, gpu.get());
  REQUIRE_FALSE(engine.ok());
  CHECK(engine.status().code() == Code::kPermissionDenied);
  CHECK(Contains(engine.status().message(), "the store root " + dir.path() + " cannot be listed"));
  CHECK(Contains(engine.status().message(), "make it readable"));
}

}  // namespace
}  // namespace pccheck::testing
