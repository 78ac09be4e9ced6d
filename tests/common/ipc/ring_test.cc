// The control segment's layout and its SPSC rings (proto/ring.h).
#include "ipc/ring.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include "catch.h"
#include "ipc/shm.h"
#include "support/test_util.h"

namespace pccheck::wire {
namespace {

using Msg = std::array<uint8_t, kRingMessageBytes>;

// A message whose every byte derives from n, so a torn or misplaced copy shows.
Msg Numbered(uint64_t n) {
  Msg m;
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(n * 31 + i);
  std::memcpy(m.data(), &n, sizeof(n));
  return m;
}

// Ring memory, 64-byte aligned like a mapped segment, and garbage until a
// view initializes it.
class RingMemory {
 public:
  explicit RingMemory(uint32_t slots) : lines_(RingView::BytesFor(slots) / 64) {
    std::memset(lines_.data(), 0xA5, lines_.size() * 64);
  }
  uint8_t* base() { return lines_.front().bytes; }
  // Where the shared indices live (ring.h: head, then tail, each on its own line).
  uint64_t* head() { return reinterpret_cast<uint64_t*>(lines_[0].bytes); }
  uint64_t* tail() { return reinterpret_cast<uint64_t*>(lines_[1].bytes); }

 private:
  struct alignas(64) Line {
    uint8_t bytes[64];
  };
  std::vector<Line> lines_;
};

TEST_CASE("ring: segment layout", "[proto]") {
  Result<SegmentLayout> l = SegmentLayout::For(64, 4, 1 << 20);
  REQUIRE(l.ok());
  CHECK(RingView::BytesFor(64) == 128 + 64 * kRingMessageBytes);
  CHECK(l->request_ring == 0);
  CHECK(l->completion_ring == RingView::BytesFor(64));
  CHECK(l->blobs == 2 * RingView::BytesFor(64));
  CHECK(l->BlobOffset(3) == l->blobs + 3 * (1 << 20));
  CHECK(l->total_bytes % 4096 == 0);
  CHECK(l->total_bytes >= l->BlobOffset(4));
  CHECK(l->total_bytes < l->BlobOffset(4) + 4096);
  CHECK(l->completion_ring % 64 == 0);
  CHECK(l->blobs % 64 == 0);

  REQUIRE(SegmentLayout::For(1, 0, 0).ok());
  REQUIRE(SegmentLayout::For(65536, 1024, 256u << 20).ok());
  for (auto [slots, blobs, blob_bytes] : {std::tuple<uint32_t, uint32_t, uint64_t>{0, 1, 64},
                                          {3, 1, 64},
                                          {131072, 1, 64},
                                          {0x80000000u, 1, 64},
                                          {8, 1025, 64},
                                          {8, 1, 100},
                                          {8, 1, (256u << 20) + 64}}) {
    CAPTURE(slots, blobs, blob_bytes);
    Result<SegmentLayout> bad = SegmentLayout::For(slots, blobs, blob_bytes);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("ring: single thread fill, empty and wrap", "[proto]") {
  constexpr uint32_t kSlots = 8;
  RingMemory mem(kSlots);
  RingView ring(mem.base(), kSlots, /*initialize=*/true);
  Msg out{};
  Result<bool> popped = ring.TryPop(out.data());
  REQUIRE(popped.ok());
  REQUIRE_FALSE(popped.value());
  CHECK(ring.Pending() == 0);

  uint64_t pushed = 0, taken = 0;
  for (int round = 0; round < 5; ++round) {  // each round ends in a different slot
    const int fill = round % 2 == 0 ? kSlots : 3;
    for (int i = 0; i < fill; ++i) REQUIRE(ring.TryPush(Numbered(pushed++).data()));
    if (fill == kSlots) REQUIRE_FALSE(ring.TryPush(Numbered(pushed).data()));
    CHECK(ring.Pending() == static_cast<uint64_t>(fill));
    while (taken < pushed) {
      popped = ring.TryPop(out.data());
      REQUIRE(popped.ok());
      REQUIRE(popped.value());
      REQUIRE(out == Numbered(taken++));
    }
    popped = ring.TryPop(out.data());
    REQUIRE(popped.ok());
    REQUIRE_FALSE(popped.value());
  }
  CHECK(*mem.head() == pushed);
  CHECK(*mem.tail() == taken);
}

TEST_CASE("ring: two threads pass a million messages in order", "[proto]") {
  constexpr uint32_t kSlots = 64;
  constexpr uint64_t kCount = 1'000'000;
  RingMemory mem(kSlots);
  RingView producer(mem.base(), kSlots, /*initialize=*/true);
  RingView consumer(mem.base(), kSlots, /*initialize=*/false);  // as the peer would

  std::thread t([&] {
    for (uint64_t i = 0; i < kCount;) {
      if (producer.TryPush(Numbered(i).data())) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  uint64_t next = 0, mismatches = 0;
  Msg out{};
  Status error;
  while (next < kCount && error.ok()) {
    Result<bool> r = consumer.TryPop(out.data());
    if (!r.ok()) {
      error = r.status();
    } else if (r.value()) {
      mismatches += out != Numbered(next);
      ++next;
    } else {
      std::this_thread::yield();
    }
  }
  t.join();
  INFO(error.ToString());
  REQUIRE(error.ok());
  CHECK(mismatches == 0);
  CHECK(next == kCount);
}

TEST_CASE("ring: an impossible producer index is corruption", "[proto]") {
  constexpr uint32_t kSlots = 4;
  RingMemory mem(kSlots);
  RingView ring(mem.base(), kSlots, /*initialize=*/true);
  Msg out{};
  for (int i = 0; i < 3; ++i) REQUIRE(ring.TryPush(Numbered(i).data()));
  for (int i = 0; i < 2; ++i) REQUIRE(ring.TryPop(out.data()).value());

  SECTION("more than a ring ahead of the consumer") { *mem.head() = 2 + kSlots + 1; }
  SECTION("behind the consumer") { *mem.head() = 1; }
  SECTION("far beyond") { *mem.head() = ~uint64_t{0}; }
  Result<bool> r = ring.TryPop(out.data());
  INFO(r.status().ToString());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find("ring: producer index") != std::string::npos);
  CHECK(ring.Pending() == 0);
  CHECK(*mem.tail() == 2);  // nothing was consumed
}

TEST_CASE("ring: exactly a full ring ahead is valid", "[proto]") {
  constexpr uint32_t kSlots = 4;
  RingMemory mem(kSlots);
  RingView ring(mem.base(), kSlots, /*initialize=*/true);
  *mem.head() = kSlots;  // a producer that filled the ring
  CHECK(ring.Pending() == kSlots);
  Msg out{};
  for (uint32_t i = 0; i < kSlots; ++i) REQUIRE(ring.TryPop(out.data()).value());
  REQUIRE_FALSE(ring.TryPop(out.data()).value());
}

TEST_CASE("ring: a hostile consumer index only makes the ring look full", "[proto]") {
  constexpr uint32_t kSlots = 4;
  RingMemory mem(kSlots);
  RingView ring(mem.base(), kSlots, /*initialize=*/true);
  REQUIRE(ring.TryPush(Numbered(0).data()));
  *mem.tail() = 1000;  // ahead of the producer
  CHECK(!ring.TryPush(Numbered(1).data()));
  *mem.head() = 999;  // the producer keeps its own index: rewriting head changes nothing
  *mem.tail() = 1;
  REQUIRE(ring.TryPush(Numbered(1).data()));
  CHECK(*mem.head() == 2);
}

TEST_CASE("ring: save requests through a shared segment", "[proto]") {
  Result<SegmentLayout> layout = SegmentLayout::For(16, 2, 4096);
  REQUIRE(layout.ok());
  auto shm = SharedMemory::Create("ring-test", layout->total_bytes);
  REQUIRE(shm.ok());
  uint8_t* base = shm.value()->data();
  RingView requests(base + layout->request_ring, 16, /*initialize=*/true);
  RingView completions(base + layout->completion_ring, 16, /*initialize=*/true);
  RingView daemon_side(base + layout->request_ring, 16, /*initialize=*/false);

  Msg msg{};
  EncodeSave(SaveMsg{1, 100, 2, 1, 10, 0}, msg.data());
  REQUIRE(requests.TryPush(msg.data()));
  Msg got{};
  REQUIRE(daemon_side.TryPop(got.data()).value());
  Result<SaveMsg> save = DecodeSave(got.data());
  REQUIRE(save.ok());
  CHECK(save->step == 100);
  CHECK(completions.Pending() == 0);  // the rings do not overlap
}

}  // namespace
}  // namespace pccheck::wire
