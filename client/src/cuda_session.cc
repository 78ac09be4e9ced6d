// GpuSession on the CUDA runtime (gpu_session.h), or, in a build without
// CUDA, a factory that says so.
#include "gpu_session.h"

#ifdef PCCHECK_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <algorithm>

#include "cuda_events.h"
#include "cuda_tensors.h"
#include "cuda_util.h"
#endif

namespace pccheck::client {

#ifdef PCCHECK_HAVE_CUDA
namespace {

cudaStream_t AsStream(void* stream) { return static_cast<cudaStream_t>(stream); }

class CudaGpuSession final : public GpuSession {
 public:
  CudaGpuSession(std::vector<GpuTensor> tensors, GpuSnapshot mode)
      : tensors_(std::move(tensors)), mode_(mode) {
    ready_device_ = tensors_.front().device;
    for (const GpuTensor& t : tensors_) {
      if (std::find(devices_.begin(), devices_.end(), t.device) == devices_.end()) {
        devices_.push_back(t.device);
      }
    }
    if (mode_ == GpuSnapshot::kStaging) layout_ = PlanStaging(tensors_);
  }

  bool SameSetup(const GpuSession& other) const override {
    const auto* o = dynamic_cast<const CudaGpuSession*>(&other);
    return o != nullptr && o->mode_ == mode_ && o->ready_device_ == ready_device_ &&
           o->devices_ == devices_ && o->layout_.bytes == layout_.bytes && o->ready_ != nullptr &&
           o->done_ != nullptr;
  }

  void Adopt(GpuSession& old) override {
    auto& o = dynamic_cast<CudaGpuSession&>(old);
    ready_ = std::move(o.ready_);
    done_ = std::move(o.done_);
    staging_ = std::move(o.staging_);
    saves_ = std::move(o.saves_);
  }

  Status Connect(Session& session) override {
    const uint32_t slots = session.welcome().max_inflight + 1;
    saves_ = GpuSaves(slots);
    done_.reset();
    staging_.reset();
    if (!ready_ || ready_->slots() != slots) {
      ready_.reset();
      auto ready = ReadyEvents::Create(ready_device_, slots);
      if (!ready.ok()) {
        return ready.status().Annotate("GPU tensors: making the ready events on CUDA device " +
                                       std::to_string(ready_device_));
      }
      ready_ = std::move(ready).value();
    }
    wire::GpuSetup setup;
    setup.ready_device = static_cast<uint32_t>(ready_device_);
    setup.ready_events = ready_->handles();
    for (int d : devices_) setup.devices.push_back(static_cast<uint32_t>(d));
    setup.staging_bytes = mode_ == GpuSnapshot::kStaging ? layout_.bytes : 0;
    PCC_ASSIGN_OR_RETURN(Frame frame, session.Call(wire::MsgType::kGpuSetup, wire::Encode(setup),
                                                   wire::MsgType::kGpuReady));
    // From here the daemon uses the new events: a failure to take them up
    // breaks the session (the next call reconnects and sets up again).
    auto reply = wire::DecodeGpuReady(frame.payload);
    if (!reply.ok()) return session.Fail(reply.status());
    auto done = DoneEvents::Open(devices_, reply.value(), slots);
    if (!done.ok()) return session.Fail(done.status().Annotate("opening pccheckd's done events"));
    if (setup.staging_bytes > 0) {
      if (reply->staging_bytes < setup.staging_bytes) {
        return session.Fail(Status::Corruption(
            "kGpuReady: staging buffer of " + std::to_string(reply->staging_bytes) +
            " bytes, asked for " + std::to_string(setup.staging_bytes)));
      }
      auto staging =
          StagingBuffer::Open(ready_device_, reply->staging_handle, reply->staging_bytes);
      if (!staging.ok()) {
        return session.Fail(staging.status().Annotate("mapping pccheckd's staging buffer"));
      }
      staging_ = std::move(staging).value();
    }
    done_ = std::move(done).value();
    return Status::Ok();
  }

  Result<std::map<size_t, wire::TensorSpec>> Prepare() override {
    if (mode_ == GpuSnapshot::kDirect) {
      PCC_ASSIGN_OR_RETURN(direct_specs_, ExportBases(tensors_));
      return direct_specs_;
    }
    std::map<size_t, wire::TensorSpec> placeholders;
    for (const GpuTensor& t : tensors_) {
      PCC_RETURN_IF_ERROR(CheckDeviceMemory(t, false));
      placeholders[t.index] = wire::TensorSpec{};
    }
    return placeholders;
  }

  Result<std::map<size_t, wire::TensorSpec>> Specs() override {
    if (mode_ == GpuSnapshot::kDirect) {
      if (direct_specs_.empty()) PCC_RETURN_IF_ERROR(Prepare().status());
      return direct_specs_;
    }
    if (!staging_) return Status::Internal("staging mode without a staging buffer");
    return StagingSpecs(tensors_, layout_, *staging_);
  }

  GpuSaves& saves() override { return saves_; }
  std::shared_ptr<const void> events() const override { return done_; }
  bool staging() const override { return mode_ == GpuSnapshot::kStaging; }

  Status RecordReady(void* stream, uint32_t slot) override {
    if (!done_) return Status::Unavailable("no GPU setup with pccheckd (reconnect pending)");
    if (staging_) {
      // The copies below overwrite the buffer the daemon drains: after its
      // drain of every earlier save.
      PCC_RETURN_IF_ERROR(WaitOnQueuedCopies(stream));
      for (size_t i = 0; i < tensors_.size(); ++i) {
        PCC_CUDA_RETURN(cudaMemcpyAsync(staging_->data() + layout_.offsets[i], tensors_[i].data,
                                        tensors_[i].bytes, cudaMemcpyDeviceToDevice,
                                        AsStream(stream)));
      }
    }
    return ready_->Record(slot, AsStream(stream));
  }

  Status OrderUpdate(void* stream) override {
    if (mode_ == GpuSnapshot::kDirect) return WaitOnQueuedCopies(stream);
    // The tensors are free once their copy into the staging buffer is done:
    // ready[slot] of the newest save was recorded right after it.
    const GpuSaves::Save* newest = saves_.Newest();
    if (newest == nullptr) return Status::Ok();
    return ready_->StreamWait(AsStream(stream), newest->slot);
  }

  Status CopyBackFromStaging() override {
    if (!staging_) return Status::Ok();
    PCC_DEVICE_GUARD(guard, ready_device_);
    for (size_t i = 0; i < tensors_.size(); ++i) {
      PCC_CUDA_RETURN(cudaMemcpy(tensors_[i].data, staging_->data() + layout_.offsets[i],
                                 tensors_[i].bytes, cudaMemcpyDeviceToDevice));
    }
    return Status::Ok();
  }

  Status Synchronize() override {
    for (int d : devices_) {
      PCC_DEVICE_GUARD(guard, d);
      PCC_CUDA_RETURN(cudaDeviceSynchronize());
    }
    return Status::Ok();
  }

 private:
  // Makes `stream` wait on the done events of every save whose copies are
  // queued and not waited on yet (gpu_saves.h says why only those).
  Status WaitOnQueuedCopies(void* stream) {
    for (GpuSaves::Save* s : saves_.StreamWaitsNeeded()) {
      auto events = std::static_pointer_cast<const DoneEvents>(s->events);
      PCC_RETURN_IF_ERROR(events->StreamWait(AsStream(stream), s->slot, ready_device_));
      s->stream_waits = true;
    }
    return Status::Ok();
  }

  const std::vector<GpuTensor> tensors_;
  const GpuSnapshot mode_;
  int ready_device_ = 0;
  std::vector<int> devices_;                         // of the tensors, each once, in table order
  StagingLayout layout_;                             // staging mode
  std::map<size_t, wire::TensorSpec> direct_specs_;  // direct mode, from Prepare
  std::unique_ptr<ReadyEvents> ready_;
  std::shared_ptr<const DoneEvents> done_;  // null until Connect succeeds
  std::unique_ptr<StagingBuffer> staging_;
  GpuSaves saves_;
};

}  // namespace

Result<std::unique_ptr<GpuSession>> NewGpuSession(const std::vector<HostTensor>& tensors,
                                                  const std::vector<int>& devices,
                                                  GpuSnapshot mode) {
  if (devices.size() != tensors.size()) {
    return Status::InvalidArgument("RegisterDevices: one device per tensor");
  }
  std::vector<GpuTensor> gpu;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (devices[i] < 0 || tensors[i].bytes == 0) continue;  // host, or nothing to copy
    if (tensors[i].data == nullptr) {
      return Status::InvalidArgument("RegisterDevices: tensor '" + tensors[i].name +
                                     "' has no data");
    }
    gpu.push_back(GpuTensor{i, tensors[i].name, devices[i], tensors[i].data, tensors[i].bytes});
  }
  if (gpu.empty()) return std::unique_ptr<GpuSession>();
  if (mode == GpuSnapshot::kStaging) {
    for (const GpuTensor& t : gpu) {
      if (t.device != gpu.front().device) {
        return Status::InvalidArgument(
            "RegisterDevices: snapshot=\"gpu\" needs every GPU tensor on one device, but '" +
            gpu.front().name + "' is on device " + std::to_string(gpu.front().device) + " and '" +
            t.name + "' on device " + std::to_string(t.device));
      }
    }
  }
  return std::unique_ptr<GpuSession>(new CudaGpuSession(std::move(gpu), mode));
}

#else

Result<std::unique_ptr<GpuSession>> NewGpuSession(const std::vector<HostTensor>& tensors,
                                                  const std::vector<int>& devices, GpuSnapshot) {
  bool any_gpu = false;
  for (size_t i = 0; i < devices.size() && i < tensors.size(); ++i) {
    any_gpu = any_gpu || (devices[i] >= 0 && tensors[i].bytes > 0);
  }
  if (!any_gpu) return std::unique_ptr<GpuSession>();
  return Status::Unavailable(
      "libpccheck was built without CUDA: GPU tensors need a build with the CUDA toolkit "
      "(meson setup -Dgpu=enabled), or move the tensors to host memory");
}

#endif

}  // namespace pccheck::client
