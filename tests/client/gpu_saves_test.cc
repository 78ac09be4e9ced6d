// GpuSaves: which event slot a GPU save may take and when the trainer's stream
// may wait on the daemon's done events, from completions that come in any
// order the daemon's threads produce (gpu_saves.h states the rules).
#include "gpu_saves.h"

#include "catch.h"

namespace pccheck::client {
namespace {

wire::CompletionMsg Msg(wire::RingType type, uint64_t seq) {
  const uint32_t code = type == wire::RingType::kFailed ? 3 : 0;
  return {type, seq, 0, code, ""};
}

std::vector<uint64_t> Seqs(const std::vector<GpuSaves::Save*>& saves) {
  std::vector<uint64_t> out;
  for (auto* s : saves) out.push_back(s->seq);
  return out;
}

TEST_CASE("gpu saves: a slot is free again only once its save's copies finished", "[client][gpu]") {
  GpuSaves saves(2);
  REQUIRE(saves.FreeSlot() == 0u);
  saves.Start(1, 0, nullptr);
  REQUIRE(saves.FreeSlot() == 1u);
  saves.Start(2, 1, nullptr);
  CHECK_FALSE(saves.FreeSlot().has_value());
  // Queued copies do not free the slot: the daemon may still wait on ready[0].
  saves.Apply(Msg(wire::RingType::kCopiesQueued, 1));
  CHECK_FALSE(saves.FreeSlot().has_value());
  saves.Apply(Msg(wire::RingType::kSnapshotDone, 1));
  CHECK(saves.FreeSlot() == 0u);
  saves.Apply(Msg(wire::RingType::kFailed, 2));
  CHECK(saves.FreeSlot() == 0u);
  CHECK(saves.empty());
}

TEST_CASE("gpu saves: the stream waits only on done events the daemon recorded", "[client][gpu]") {
  GpuSaves saves(3);
  saves.Start(1, 0, nullptr);
  saves.Start(2, 1, nullptr);
  CHECK_FALSE(saves.AllQueued());
  CHECK(saves.StreamWaitsNeeded().empty());  // nothing recorded yet: no wait allowed
  saves.Apply(Msg(wire::RingType::kCopiesQueued, 2));
  CHECK_FALSE(saves.AllQueued());
  CHECK(Seqs(saves.StreamWaitsNeeded()) == std::vector<uint64_t>{2});
  saves.Apply(Msg(wire::RingType::kCopiesQueued, 1));
  CHECK(saves.AllQueued());
  auto needed = saves.StreamWaitsNeeded();
  CHECK(Seqs(needed) == std::vector<uint64_t>{1, 2});
  for (auto* s : needed) s->stream_waits = true;
  CHECK(saves.StreamWaitsNeeded().empty());  // each wait is issued once
  saves.Start(3, 2, nullptr);
  saves.Apply(Msg(wire::RingType::kCopiesQueued, 3));
  CHECK(Seqs(saves.StreamWaitsNeeded()) == std::vector<uint64_t>{3});
}

TEST_CASE("gpu saves: finished copies need no wait, in whatever order the news comes",
          "[client][gpu]") {
  GpuSaves saves(2);
  saves.Start(1, 0, nullptr);
  SECTION("snapshot done before copies queued (a writer raced the copy thread)") {
    saves.Apply(Msg(wire::RingType::kSnapshotDone, 1));
    saves.Apply(Msg(wire::RingType::kCopiesQueued, 1));
  }
  SECTION("committed first") {
    saves.Apply(Msg(wire::RingType::kCommitted, 1));
    saves.Apply(Msg(wire::RingType::kCopiesQueued, 1));
  }
  SECTION("failed before its copies were queued") { saves.Apply(Msg(wire::RingType::kFailed, 1)); }
  CHECK(saves.AllQueued());
  CHECK(saves.StreamWaitsNeeded().empty());
  CHECK(saves.FreeSlot() == 0u);
  CHECK(saves.Newest() == nullptr);
}

TEST_CASE("gpu saves: news of unknown saves is ignored; a lost session ends them all",
          "[client][gpu]") {
  GpuSaves saves(2);
  saves.Start(5, 1, std::make_shared<int>(7));
  saves.Apply(Msg(wire::RingType::kCopiesQueued, 99));
  saves.Apply(Msg(wire::RingType::kFailed, 4));
  CHECK_FALSE(saves.AllQueued());
  REQUIRE(saves.Newest() != nullptr);
  CHECK(saves.Newest()->slot == 1u);
  CHECK(*std::static_pointer_cast<const int>(saves.Newest()->events) == 7);
  CHECK(saves.FreeSlot() == 0u);
  saves.Clear();
  CHECK(saves.AllQueued());
  CHECK(saves.FreeSlot() == 0u);
}

}  // namespace
}  // namespace pccheck::client
