// Session: GPU tensors and the ordering of GPU saves with the trainer's stream
// (DESIGN.md, "Save, step by step" and "Events are recorded, then waited on").
//
// For a save in slot s the daemon's copy stream of every device in the table
// waits on the client's ready[s] before its first copy, records done[d][s]
// right after its last copy is queued, and only then posts kCopiesQueued: the
// client makes its stream wait on done[d][s] only after that message, so it
// never waits on an earlier record. The client picks s and never records
// ready[s] again before this save is over for the events (copies finished or
// failed); the daemon trusts nothing else of it: a wrong slot number is
// refused, a reused slot only harms that client's own ordering.
#include <algorithm>

#include "server/session.h"

namespace pccheck {

Status Session::HandleGpuSetup(const Frame& frame) {
  PCC_ASSIGN_OR_RETURN(auto msg, wire::DecodeGpuSetup(frame.payload));
  auto reply = gpu_.Setup(msg);
  if (!reply.ok()) return ReplyError(reply.status().Annotate("GPU setup"));
  return socket_.Send(wire::MsgType::kGpuReady, wire::Encode(reply.value()));
}

Result<TensorSource> Session::DeviceSource(const wire::TensorSpec& t, Registered* table) {
  PCC_ASSIGN_OR_RETURN(std::shared_ptr<DeviceMemory> mem, gpu_.Resolve(t));
  TensorSource s;
  s.device = mem->device();
  s.data = mem->data() + t.offset;
  if (std::find(table->device_memory.begin(), table->device_memory.end(), mem) ==
      table->device_memory.end()) {
    table->device_memory.push_back(mem);
  }
  if (std::find(table->devices.begin(), table->devices.end(), s.device) == table->devices.end()) {
    table->devices.push_back(s.device);
  }
  return s;
}

Status Session::OrderWithTrainer(const wire::SaveMsg& msg, SaveRequest* req,
                                 std::shared_ptr<const GpuEvents>* keep) {
  std::shared_ptr<const GpuEvents> events = gpu_.events();
  if (!events) {
    return Status::InvalidArgument(
        "GPU tensors are registered but their events are not (send kGpuSetup first)");
  }
  if (msg.event_slot >= events->slots()) {
    return Status::InvalidArgument("event slot " + std::to_string(msg.event_slot) +
                                   " is out of range (" + std::to_string(events->slots()) +
                                   " slots)");
  }
  // The ready device's done event goes last: the pipeline records it after
  // its stream waited on the other devices' records, so the trainer's stream
  // (on the ready device) waits on that one event only. A stream waiting on an
  // IPC event of another device is what crashes CUDA (gpu/cuda_gpu.cc).
  std::vector<int> order;
  for (int d : table_.devices) {
    if (d != events->ready_device) order.push_back(d);
  }
  order.push_back(events->ready_device);
  for (int d : order) {
    auto done = events->done.find(d);
    if (done == events->done.end()) {
      return Status::InvalidArgument("the GPU setup has no done events for device " +
                                     std::to_string(d) + ", which holds registered tensors");
    }
    if (std::find(table_.devices.begin(), table_.devices.end(), d) != table_.devices.end()) {
      req->wait_before_copy.push_back({d, events->ready[msg.event_slot]->get()});
    }
    req->record_after_copy.push_back({d, done->second[msg.event_slot]->get()});
  }
  *keep = std::move(events);
  return Status::Ok();
}

}  // namespace pccheck
