// The offline reader beside a writer that recycles the slot it is reading:
// an engine saving into the same store from inside the reader's sink, or the
// slot's files rewritten between the reader's steps. What was read from a
// recycled slot is never served, and never reported as damage.
#include <functional>

#include "catch.h"
#include "daemon/engine/engine_fixture.h"
#include "store/checkpoint_reader.h"
#include "store/store_paths.h"
#include "stream_check.h"

namespace pccheck::testing {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A MemorySink that lets a test act between the reader's steps.
class HookSink : public MemorySink {
 public:
  std::function<void(const StoredCheckpoint&)> on_begin;
  // After chunk `index` of the current attempt was taken.
  std::function<void(uint64_t index, const Manifest& m)> on_chunk;
  int begins = 0;

  Status Begin(const StoredCheckpoint& c) override {
    ++begins;
    manifest_ = c.manifest;
    if (on_begin) on_begin(c);
    return MemorySink::Begin(c);
  }
  Status Chunk(uint64_t offset, const uint8_t* data, uint64_t len) override {
    PCC_RETURN_IF_ERROR(MemorySink::Chunk(offset, data, len));
    if (on_chunk) on_chunk(offset / manifest_.chunk_bytes, manifest_);
    return Status::Ok();
  }

 private:
  Manifest manifest_;
};

// An engine with max_inflight 1 (two slots) holding steps 1 and 2: the next
// two saves recycle step 1's slot, then step 2's.
struct Writer {
  TempDir dir;
  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  std::unique_ptr<Gpu> gpu = NewFakeGpu();
  std::unique_ptr<Engine> engine;
  std::map<uint64_t, TensorSet> saved;

  Writer() {
    auto e = Engine::Open(SmallOptions(dir.path(), 1), fs.get(), gpu.get());
    REQUIRE(e.ok());
    engine = std::move(e).value();
    Save(1);
    Save(2);
  }
  void Save(uint64_t step) {
    saved.emplace(step, TensorSet::Make({70'000, 3, 200'000}, step));
    auto h = engine->Save(MakeRequest(saved.at(step), step));
    REQUIRE(h.ok());
    REQUIRE((*h)->Wait().ok());
  }
  std::string rank_dir() const { return RankDir(dir.path(), "job", 0); }
  ReadRequest Request(std::optional<uint64_t> step) const {
    ReadRequest r;
    r.root = dir.path();
    r.job = "job";
    r.step = step;
    r.threads = 1;  // chunks in order: the hooks act at a known point
    return r;
  }
  void CheckHolds(const MemorySink& sink, const Manifest& m, uint64_t step) {
    CHECK(m.step == step);
    CheckStream(sink, m, saved.at(step));
  }
};

TEST_CASE("newest: a slot recycled mid-read is looked up again", "[store]") {
  Writer w;
  HookSink sink;
  bool done = false;
  sink.on_chunk = [&](uint64_t index, const Manifest& m) {
    if (done || index != 0) return;
    REQUIRE(m.step == 2);
    done = true;
    w.Save(3);  // into step 1's slot
    w.Save(4);  // into step 2's slot, which is being read
  };
  auto r = ReadStoredCheckpoint(w.fs.get(), w.Request(std::nullopt), &sink);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->attempts == 2);
  CHECK(sink.begins == 2);
  CHECK(r->skipped.empty());  // the torn read of step 2 is not damage
  w.CheckHolds(sink, r->checkpoint.manifest, 4);
}

TEST_CASE("an explicit step overwritten mid-read fails saying so", "[store]") {
  Writer w;
  HookSink sink;
  bool done = false;
  sink.on_chunk = [&](uint64_t index, const Manifest&) {
    if (done || index != 0) return;
    done = true;
    w.Save(3);  // recycles step 1's slot
  };
  auto r = ReadStoredCheckpoint(w.fs.get(), w.Request(1), &sink);
  REQUIRE(r.status().code() == Code::kNotFound);
  INFO(r.status().message());
  CHECK(Contains(r.status().message(),
                 "step 1 of job job rank 0 was overwritten while reading "
                 "(it is no longer in the store"));
  CHECK(Contains(r.status().message(), "steps there: 2, 3 (latest)"));
}

TEST_CASE("a manifest removed after every chunk verified still discards the read", "[store]") {
  Writer w;
  HookSink sink;
  bool done = false;
  sink.on_chunk = [&](uint64_t index, const Manifest& m) {
    if (done || index + 1 != m.chunk_count()) return;
    done = true;
    // What the engine does first when it recycles a slot; the data is intact.
    REQUIRE(w.fs->Remove(SlotManifestPath(w.rank_dir(), m.slot)).ok());
  };
  auto r = ReadStoredCheckpoint(w.fs.get(), w.Request(std::nullopt), &sink);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->attempts == 2);
  w.CheckHolds(sink, r->checkpoint.manifest, 1);  // `latest` names a slot with no manifest now
}

TEST_CASE("a step moved into kept/ mid-read is read again from there", "[store]") {
  Writer w;
  HookSink sink;
  bool done = false;
  sink.on_chunk = [&](uint64_t index, const Manifest& m) {
    if (done || index != 0) return;
    done = true;
    REQUIRE(w.fs->CreateDirs(KeptDir(w.rank_dir())).ok());
    REQUIRE(w.fs->Rename(SlotDataPath(w.rank_dir(), m.slot), KeptDataPath(w.rank_dir(), 1)).ok());
    REQUIRE(w.fs->Rename(SlotManifestPath(w.rank_dir(), m.slot), KeptManifestPath(w.rank_dir(), 1))
                .ok());
  };
  auto r = ReadStoredCheckpoint(w.fs.get(), w.Request(1), &sink);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->attempts == 2);
  CHECK_FALSE(r->checkpoint.slot.has_value());
  w.CheckHolds(sink, r->checkpoint.manifest, 1);
}

TEST_CASE("the reader gives up when every attempt's slot is recycled", "[store]") {
  Writer w;
  HookSink sink;
  // Each attempt's manifest is replaced (validly) while it is read.
  sink.on_begin = [&](const StoredCheckpoint& c) {
    Manifest m = c.manifest;
    ++m.wall_time;
    REQUIRE(w.fs->WriteFileAtomic(c.manifest_path, EncodeManifest(m)).ok());
  };
  ReadRequest req = w.Request(std::nullopt);
  req.max_attempts = 3;
  auto r = ReadStoredCheckpoint(w.fs.get(), req, &sink);
  REQUIRE(r.status().code() == Code::kAborted);
  CHECK(Contains(r.status().message(), "gave up after 3 attempts"));
  CHECK(sink.begins == 3);
}

}  // namespace
}  // namespace pccheck::testing
