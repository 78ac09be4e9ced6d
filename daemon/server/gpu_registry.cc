#include "server/gpu_registry.h"

#include <spdlog/spdlog.h>

namespace pccheck {

Status GpuRegistry::Available() const {
  if (gpu_ == nullptr || gpu_->DeviceCount() == 0) {
    return Status::Unavailable(
        "pccheckd has no usable GPU (it serves host-memory tensors only; see its log at start-up "
        "for why)");
  }
  return Status::Ok();
}

Status GpuRegistry::CheckDevice(uint32_t device) const {
  PCC_RETURN_IF_ERROR(Available());
  if (device >= static_cast<uint32_t>(gpu_->DeviceCount())) {
    return Status::InvalidArgument(
        "CUDA device " + std::to_string(device) + " is not visible to pccheckd (it sees " +
        std::to_string(gpu_->DeviceCount()) + "; check CUDA_VISIBLE_DEVICES on both sides)");
  }
  return Status::Ok();
}

Result<wire::GpuReady> GpuRegistry::Setup(const wire::GpuSetup& msg) {
  PCC_RETURN_IF_ERROR(CheckDevice(msg.ready_device));
  for (uint32_t d : msg.devices) PCC_RETURN_IF_ERROR(CheckDevice(d));
  if (msg.ready_events.size() != slots_) {
    return Status::InvalidArgument("GPU setup sent " + std::to_string(msg.ready_events.size()) +
                                   " ready events; this session has " + std::to_string(slots_) +
                                   " slots (max_inflight + 1)");
  }
  auto events = std::make_shared<GpuEvents>();
  events->ready_device = static_cast<int>(msg.ready_device);
  for (const std::string& h : msg.ready_events) {
    auto ev = SharedEvent::Open(gpu_, events->ready_device, h);
    if (!ev.ok()) return ev.status().Annotate("opening the client's ready event");
    events->ready.push_back(std::move(ev).value());
  }
  wire::GpuReady reply;
  for (uint32_t d : msg.devices) {
    const int device = static_cast<int>(d);
    auto& done = events->done[device];
    std::vector<std::string> handles;
    for (uint32_t slot = 0; slot < slots_; ++slot) {
      auto ev = SharedEvent::Create(gpu_, device);
      if (!ev.ok()) return ev.status().Annotate("creating a done event");
      handles.push_back(ev.value()->handle());
      done.push_back(std::move(ev).value());
    }
    reply.done_events.push_back(std::move(handles));
  }
  std::shared_ptr<DeviceMemory> staging;
  if (msg.staging_bytes > 0) {
    if (staging_ && staging_->device() == events->ready_device &&
        staging_->bytes() >= msg.staging_bytes) {
      staging = staging_;
    } else {
      auto mem = DeviceMemory::Allocate(gpu_, events->ready_device, msg.staging_bytes);
      if (!mem.ok()) {
        return mem.status().Annotate("allocating a GPU staging buffer of " +
                                     std::to_string(msg.staging_bytes) + " bytes on device " +
                                     std::to_string(msg.ready_device) +
                                     " (snapshot=\"gpu\" needs that much free GPU memory)");
      }
      staging = std::move(mem).value();
    }
    reply.staging_handle = staging->handle();
    reply.staging_bytes = staging->bytes();
  }
  events_ = std::move(events);
  staging_ = std::move(staging);
  return reply;
}

Result<std::shared_ptr<DeviceMemory>> GpuRegistry::Resolve(const wire::TensorSpec& t) {
  PCC_RETURN_IF_ERROR(CheckDevice(t.device));
  const int device = static_cast<int>(t.device);
  std::shared_ptr<DeviceMemory> mem;
  if (staging_ && staging_->device() == device && staging_->handle() == t.ipc_handle) {
    mem = staging_;
  } else {
    auto key = std::make_pair(device, t.ipc_handle);
    auto it = bases_.find(key);
    if (it != bases_.end()) mem = it->second.lock();
    if (!mem) {
      auto opened = DeviceMemory::Import(gpu_, device, t.ipc_handle, t.base_bytes);
      if (!opened.ok()) {
        return opened.status().Annotate("opening its allocation (CUDA IPC) on device " +
                                        std::to_string(device));
      }
      mem = std::move(opened).value();
      std::erase_if(bases_, [](const auto& kv) { return kv.second.expired(); });
      bases_[key] = mem;
    }
  }
  if (t.offset > mem->bytes() || t.bytes > mem->bytes() - t.offset) {
    return Status::InvalidArgument(
        std::to_string(t.bytes) + " bytes at offset " + std::to_string(t.offset) +
        " do not lie inside its allocation of " + std::to_string(mem->bytes()) + " bytes");
  }
  return mem;
}

size_t GpuRegistry::open_bases() const {
  size_t n = 0;
  for (const auto& [key, weak] : bases_) n += !weak.expired();
  return n;
}

void GpuRegistry::Clear() {
  bases_.clear();
  events_.reset();
  staging_.reset();
}

}  // namespace pccheck
