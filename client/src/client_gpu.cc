// Client: GPU tensors (DESIGN.md, "Save, step by step"). The rules for the
// events are in gpu_saves.h; the CUDA calls in gpu_session.h's implementation.
#include "client_impl.h"
#include "errors.h"

namespace pccheck {

using client::kNoTimeout;

namespace {

#ifndef PCCHECK_HAVE_CUDA
Status NoCuda(const char* call) {
  return Status::Unavailable(std::string(call) +
                             ": libpccheck was built without CUDA (rebuild it with the CUDA "
                             "toolkit: meson setup -Dgpu=enabled)");
}
#endif

}  // namespace

Status Client::RegisterDevices(const std::vector<DeviceTensor>& tensors, GpuSnapshot mode) {
  std::vector<HostTensor> all;
  std::vector<int> devices;
  all.reserve(tensors.size());
  for (const DeviceTensor& t : tensors) {
    all.push_back(t.tensor);
    devices.push_back(t.device);
  }
  return impl_->InstallTable(all, devices, mode);
}

Result<uint64_t> Client::SaveOnStream(uint64_t step, void* stream, std::string_view user_blob) {
#ifndef PCCHECK_HAVE_CUDA
  (void)step, (void)stream, (void)user_blob;
  return NoCuda("SaveOnStream");
#else
  Impl& d = *impl_;
  if (!d.gpu) return Save(step, user_blob);
  PCC_RETURN_IF_ERROR(d.Connected());
  client::GpuSaves& saves = d.gpu->saves();
  // Both events of a slot are reused only once its previous save is over for
  // them; the CPU waits here only when every slot is still taken.
  PCC_RETURN_IF_ERROR(d.WaitUntil([&] { return saves.FreeSlot().has_value(); }, kNoTimeout,
                                  "a free GPU event slot (the copies of an earlier save)"));
  // Staging mode overwrites the buffer the daemon drains: its stream waits
  // for the earlier drains, which needs their done events recorded.
  if (d.gpu->staging()) {
    PCC_RETURN_IF_ERROR(d.WaitUntil([&] { return saves.AllQueued(); }, kNoTimeout,
                                    "pccheckd to queue the copies of the earlier saves"));
  }
  const uint32_t slot = *saves.FreeSlot();
  PCC_RETURN_IF_ERROR(d.gpu->RecordReady(stream, slot));
  PCC_ASSIGN_OR_RETURN(uint64_t seq, d.SubmitSave(step, user_blob, slot));
  saves.Start(seq, slot, d.gpu->events());
  return seq;
#endif
}

Status Client::BeforeUpdateStream(void* stream, int timeout_ms) {
#ifndef PCCHECK_HAVE_CUDA
  (void)stream, (void)timeout_ms;
  return NoCuda("BeforeUpdateStream");
#else
  Impl& d = *impl_;
  if (!d.gpu) return BeforeUpdate(timeout_ms);
  // Host tensors read in place need their snapshot on the CPU side as before.
  const bool host_in_place = d.table && d.table->reads_arenas_in_place();
  auto can_order = [&] {
    return (d.gpu->staging() || d.gpu->saves().AllQueued()) &&
           (!host_in_place || !d.tickets.AnySnapshotPending());
  };
  Status s = d.WaitUntil(can_order, timeout_ms, "pccheckd to queue its copies of the saves");
  if (client::IsTimeout(s)) return s;  // a failure seen meanwhile is reported next time
  if (s.ok()) s = d.gpu->OrderUpdate(stream);
  Status failed = d.tickets.TakeSnapshotFailure();
  return s.ok() ? failed : s;
#endif
}

}  // namespace pccheck
