#include "cuda_events.h"

#ifdef PCCHECK_HAVE_CUDA
#include <cstring>

#include "cuda_util.h"

namespace pccheck::client {

static_assert(sizeof(cudaIpcEventHandle_t) == wire::kIpcHandleBytes);

Result<std::unique_ptr<ReadyEvents>> ReadyEvents::Create(int device, uint32_t slots) {
  PCC_DEVICE_GUARD(guard, device);
  std::unique_ptr<ReadyEvents> ready(new ReadyEvents(device));
  for (uint32_t i = 0; i < slots; ++i) {
    cudaEvent_t ev;
    PCC_CUDA_RETURN(cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming));
    ready->events_.push_back(ev);
    cudaIpcEventHandle_t h;
    PCC_CUDA_RETURN(cudaIpcGetEventHandle(&h, ev));
    ready->handles_.emplace_back(reinterpret_cast<const char*>(&h), sizeof h);
  }
  return ready;
}

ReadyEvents::~ReadyEvents() {
  for (cudaEvent_t ev : events_) (void)cudaEventDestroy(ev);
}

Status ReadyEvents::Record(uint32_t slot, cudaStream_t stream) const {
  return PCC_CUDA(cudaEventRecord(events_[slot], stream))
      .Annotate(
          "recording the ready event on the trainer's stream (it must be a stream of CUDA "
          "device " +
          std::to_string(device_) + ")");
}

Status ReadyEvents::StreamWait(cudaStream_t stream, uint32_t slot) const {
  return PCC_CUDA(cudaStreamWaitEvent(stream, events_[slot], 0));
}

Result<std::shared_ptr<const DoneEvents>> DoneEvents::Open(const std::vector<int>& devices,
                                                           const wire::GpuReady& reply,
                                                           uint32_t slots) {
  if (reply.done_events.size() != devices.size()) {
    return Status::Corruption("kGpuReady: done events for " +
                              std::to_string(reply.done_events.size()) + " devices, asked for " +
                              std::to_string(devices.size()));
  }
  std::shared_ptr<DoneEvents> done(new DoneEvents());
  for (size_t i = 0; i < devices.size(); ++i) {
    if (reply.done_events[i].size() != slots) {
      return Status::Corruption("kGpuReady: " + std::to_string(reply.done_events[i].size()) +
                                " done events for device " + std::to_string(devices[i]) +
                                ", expected " + std::to_string(slots));
    }
    PCC_DEVICE_GUARD(guard, devices[i]);
    done->events_.emplace_back(devices[i], std::vector<cudaEvent_t>{});
    std::vector<cudaEvent_t>& events = done->events_.back().second;
    for (const std::string& handle : reply.done_events[i]) {
      cudaIpcEventHandle_t h;
      std::memcpy(&h, handle.data(), sizeof h);  // the decoder checked: 64 bytes
      cudaEvent_t ev;
      PCC_CUDA_RETURN(cudaIpcOpenEventHandle(&ev, h));
      events.push_back(ev);
    }
  }
  return std::shared_ptr<const DoneEvents>(std::move(done));
}

DoneEvents::~DoneEvents() {
  for (auto& [device, events] : events_) {
    for (cudaEvent_t ev : events) (void)cudaEventDestroy(ev);
  }
}

Status DoneEvents::StreamWait(cudaStream_t stream, uint32_t slot, int ready_device) const {
  // The daemon records the ready device's event after that device's copy
  // stream waited on every other device's copies: it covers them all, and a
  // stream must not wait on another device's interprocess event.
  for (const auto& [device, events] : events_) {
    if (device == ready_device) return PCC_CUDA(cudaStreamWaitEvent(stream, events[slot], 0));
  }
  return Status::Internal("no done events for CUDA device " + std::to_string(ready_device) +
                          ", the device of the trainer's stream");
}

}  // namespace pccheck::client
#endif
