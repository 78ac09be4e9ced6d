// The control segment's layout and its single-producer/single-consumer rings.
//
// Ordering (ring.h): the producer fills a slot, then release-stores head; the
// consumer acquire-loads head, copies the slot out, then release-stores tail;
// the producer acquire-loads tail before reusing a slot. Indices only grow
// (64 bits never wrap in practice); a slot is index % slots.
#include "ipc/ring.h"

#include <cassert>
#include <cstring>
#include <new>

namespace pccheck::wire {
namespace {

constexpr size_t kCacheLine = 64;
constexpr size_t kHeaderBytes = 2 * kCacheLine;  // head, then tail, each on its own line
constexpr uint32_t kMaxRingSlots = 65536;
constexpr uint32_t kMaxBlobSlots = 1024;
constexpr uint64_t kMaxBlobSlotBytes = 256u << 20;
constexpr uint64_t kPage = 4096;

}  // namespace

size_t RingView::BytesFor(uint32_t slots) {
  return kHeaderBytes + size_t{slots} * kRingMessageBytes;
}

Result<SegmentLayout> SegmentLayout::For(uint32_t ring_slots, uint32_t blob_slots,
                                         uint64_t blob_slot_bytes) {
  if (ring_slots == 0 || ring_slots > kMaxRingSlots || (ring_slots & (ring_slots - 1)) != 0) {
    return Status::InvalidArgument("ring slots " + std::to_string(ring_slots) +
                                   " must be a power of two from 1 to 65536");
  }
  if (blob_slots > kMaxBlobSlots) {
    return Status::InvalidArgument("blob slots " + std::to_string(blob_slots) +
                                   " exceed the limit of 1024");
  }
  if (blob_slot_bytes > kMaxBlobSlotBytes || blob_slot_bytes % kCacheLine != 0) {
    return Status::InvalidArgument("blob slot size " + std::to_string(blob_slot_bytes) +
                                   " must be a multiple of 64 of at most 256 MiB");
  }
  // With these bounds the total stays under 2^39: nothing below can overflow.
  SegmentLayout l;
  l.ring_slots = ring_slots;
  l.blob_slots = blob_slots;
  l.blob_slot_bytes = blob_slot_bytes;
  l.request_ring = 0;
  l.completion_ring = RingView::BytesFor(ring_slots);
  l.blobs = 2 * RingView::BytesFor(ring_slots);
  const uint64_t end = l.blobs + uint64_t{blob_slots} * blob_slot_bytes;
  l.total_bytes = (end + kPage - 1) / kPage * kPage;
  return l;
}

RingView::RingView(void* base, uint32_t slots, bool initialize) : count_(slots) {
  assert(reinterpret_cast<uintptr_t>(base) % kCacheLine == 0);
  assert(slots != 0 && (slots & (slots - 1)) == 0);
  auto* bytes = static_cast<uint8_t*>(base);
  if (initialize) {
    std::memset(bytes, 0, kHeaderBytes);
    head_ = new (bytes) std::atomic<uint64_t>(0);
    tail_ = new (bytes + kCacheLine) std::atomic<uint64_t>(0);
  } else {
    head_ = std::launder(reinterpret_cast<std::atomic<uint64_t>*>(bytes));
    tail_ = std::launder(reinterpret_cast<std::atomic<uint64_t>*>(bytes + kCacheLine));
  }
  slots_ = bytes + kHeaderBytes;
  produced_ = head_->load(std::memory_order_acquire);
  consumed_ = tail_->load(std::memory_order_acquire);
}

bool RingView::TryPush(const uint8_t msg[kRingMessageBytes]) {
  // A consumer index ahead of ours, or far behind it, reads as "full": a
  // hostile consumer can stall its own requests, never make us overrun.
  const uint64_t tail = tail_->load(std::memory_order_acquire);
  if (produced_ - tail >= count_) return false;
  std::memcpy(slots_ + (produced_ & (count_ - 1)) * kRingMessageBytes, msg, kRingMessageBytes);
  ++produced_;
  head_->store(produced_, std::memory_order_release);
  return true;
}

Result<bool> RingView::TryPop(uint8_t out[kRingMessageBytes]) {
  const uint64_t head = head_->load(std::memory_order_acquire);
  if (head - consumed_ > count_) {  // behind us (wraps to huge) or beyond a full ring
    return Status::Corruption("ring: producer index " + std::to_string(head) +
                              " is impossible with the consumer at " + std::to_string(consumed_) +
                              " in a ring of " + std::to_string(count_) + " slots");
  }
  if (head == consumed_) return false;
  std::memcpy(out, slots_ + (consumed_ & (count_ - 1)) * kRingMessageBytes, kRingMessageBytes);
  ++consumed_;
  tail_->store(consumed_, std::memory_order_release);
  return true;
}

uint64_t RingView::Pending() const {
  const uint64_t pending = head_->load(std::memory_order_acquire) - consumed_;
  return pending > count_ ? 0 : pending;
}

}  // namespace pccheck::wire
