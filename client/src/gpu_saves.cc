#include "gpu_saves.h"

#include <algorithm>

namespace pccheck::client {

std::optional<uint32_t> GpuSaves::FreeSlot() const {
  for (uint32_t slot = 0; slot < slots_; ++slot) {
    if (std::none_of(saves_.begin(), saves_.end(),
                     [slot](const Save& s) { return s.slot == slot; })) {
      return slot;
    }
  }
  return std::nullopt;
}

void GpuSaves::Start(uint64_t seq, uint32_t slot, std::shared_ptr<const void> events) {
  saves_.push_back(Save{seq, slot, false, false, std::move(events)});
}

void GpuSaves::Apply(const wire::CompletionMsg& msg) {
  auto it =
      std::find_if(saves_.begin(), saves_.end(), [&](const Save& s) { return s.seq == msg.seq; });
  if (it == saves_.end()) return;
  switch (msg.type) {
    case wire::RingType::kCopiesQueued:
      it->copies_queued = true;
      break;
    case wire::RingType::kSnapshotDone:  // its copies are finished
    case wire::RingType::kCommitted:
    case wire::RingType::kCoalesced:
    case wire::RingType::kFailed:  // no copy of it runs any more
      saves_.erase(it);
      break;
    case wire::RingType::kSave:
      break;
  }
}

bool GpuSaves::AllQueued() const {
  return std::all_of(saves_.begin(), saves_.end(), [](const Save& s) { return s.copies_queued; });
}

std::vector<GpuSaves::Save*> GpuSaves::StreamWaitsNeeded() {
  std::vector<Save*> out;
  for (Save& s : saves_) {
    if (s.copies_queued && !s.stream_waits) out.push_back(&s);
  }
  return out;
}

}  // namespace pccheck::client
