// The control segment: one shared-memory region per client session, created
// by the daemon, holding two single-producer/single-consumer rings and the
// user-blob slots.
//
//   [request ring: client produces, daemon consumes]
//   [completion ring: daemon produces, client consumes]
//   [blob slot 0][blob slot 1]...
//
// Both processes compute the layout from the numbers in Welcome (never from
// shared memory). A ring is a header of two 64-bit sequence numbers on their
// own cache lines (head: next slot the producer writes; tail: next slot the
// consumer reads) followed by `slots` messages of kRingMessageBytes. The
// producer writes the slot, then publishes head with a release store; the
// consumer reads head with an acquire load, copies the slot out, then
// publishes tail. No locks live in shared memory.
//
// The peer is untrusted: a consumer that sees head behind tail, or more than
// `slots` ahead of it, reports Corruption, and the daemon drops that session.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "proto/wire.h"

namespace pccheck::wire {

struct SegmentLayout {
  uint32_t ring_slots = 0;  // a power of two
  uint32_t blob_slots = 0;
  uint64_t blob_slot_bytes = 0;  // a multiple of 64
  uint64_t request_ring = 0;     // offsets from the segment's start
  uint64_t completion_ring = 0;
  uint64_t blobs = 0;
  uint64_t total_bytes = 0;  // rounded up to a page

  // InvalidArgument when the numbers are out of range (slots not a power of
  // two or > 65536, blob slots > 1024, blob slot > 256 MiB or not a multiple
  // of 64, total overflow). Rings and blobs start on 64-byte boundaries.
  static Result<SegmentLayout> For(uint32_t ring_slots, uint32_t blob_slots,
                                   uint64_t blob_slot_bytes);
  uint64_t BlobOffset(uint32_t slot) const { return blobs + uint64_t{slot} * blob_slot_bytes; }
};

static_assert(std::atomic<uint64_t>::is_always_lock_free);

// A ring over memory owned elsewhere (a mapped segment). Not copyable state:
// the view holds the producer's or consumer's private copy of its own index.
// One thread produces and one consumes; Push and Pop are wait-free.
class RingView {
 public:
  static size_t BytesFor(uint32_t slots);
  // Views the ring at `base` (64-byte aligned, BytesFor(slots) long, slots a
  // power of two). When `initialize`, zeroes the header (the daemon does this
  // once, before handing the segment out); otherwise the view starts from the
  // indices it finds there.
  RingView(void* base, uint32_t slots, bool initialize);
  RingView() = default;

  // Producer: false when the ring is full.
  bool TryPush(const uint8_t msg[kRingMessageBytes]);
  // Consumer: ok(true) with a message copied out, ok(false) when empty,
  // Corruption when the producer's index is impossible (nothing is consumed;
  // every later call fails the same way until the index makes sense).
  Result<bool> TryPop(uint8_t out[kRingMessageBytes]);
  // Messages waiting (consumer's view); 0 when the peer's index is bad.
  uint64_t Pending() const;

 private:
  std::atomic<uint64_t>* head_ = nullptr;  // in shared memory: the producer's index
  std::atomic<uint64_t>* tail_ = nullptr;  // in shared memory: the consumer's index
  uint8_t* slots_ = nullptr;
  uint32_t count_ = 0;
  // This side's own index, kept privately: a peer that rewrites our index in
  // shared memory cannot make us reread or overwrite a slot.
  uint64_t produced_ = 0;  // producer: next slot to write
  uint64_t consumed_ = 0;  // consumer: next slot to read
};

}  // namespace pccheck::wire
