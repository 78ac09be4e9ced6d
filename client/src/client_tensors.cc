// Client: shared memory, the tensor table and restore (protocol steps 3, 4, 7).
#include "client_impl.h"
#include "errors.h"

namespace pccheck {

Result<void*> Client::AllocateShared(uint64_t bytes) {
  Impl& d = *impl_;
  PCC_RETURN_IF_ERROR(d.Connected());
  auto arena = client::AllocateArena(*d.session, bytes);
  if (!arena.ok()) return d.Checked(arena.status());
  void* data = arena->memory->data();
  d.arenas.push_back(std::move(arena).value());
  return data;
}

Status Client::Register(const std::vector<HostTensor>& tensors) {
  return impl_->InstallTable(tensors, {}, GpuSnapshot::kDirect);
}

Status Client::Impl::InstallTable(const std::vector<HostTensor>& tensors,
                                  const std::vector<int>& devices, GpuSnapshot mode) {
  Impl& d = *this;
  PCC_RETURN_IF_ERROR(d.Connected());
  // Everything that can be checked without the daemon first: a mistake in
  // the table (memory that cannot be shared, ...) changes nothing.
  std::unique_ptr<client::GpuSession> fresh;
  std::map<size_t, wire::TensorSpec> device_specs;
  if (!devices.empty()) {
    PCC_ASSIGN_OR_RETURN(fresh, client::NewGpuSession(tensors, devices, mode));
  }
  if (fresh) {
    PCC_ASSIGN_OR_RETURN(device_specs, fresh->Prepare());
  }
  PCC_ASSIGN_OR_RETURN(client::TensorTable table,
                       client::TensorTable::Build(tensors, d.arenas, std::move(device_specs)));
  // The daemon may still be reading the staging areas for a save in flight.
  PCC_RETURN_IF_ERROR(d.WaitUntil([&] { return !d.tickets.AnySnapshotPending(); },
                                  client::kNoTimeout, "the snapshots of the saves in flight"));
  // GPU tensors: the same setup is kept (storage moved: only the table is
  // new); anything else gets a new one, once no stream waits on old events.
  bool new_setup = false, adopted = false;
  // After a new setup the daemon's events are not those of the previous
  // registration: on a later failure the session is dropped, and the next
  // call reconnects and registers the previous table again.
  auto undo = [&](const Status& s) -> Status {
    if (adopted) d.gpu->Adopt(*fresh);
    if (!new_setup || !d.session) return d.Checked(s);
    (void)d.MarkLost(d.session->Fail(s));
    return s.Annotate(
        "registering (the connection to pccheckd was reset; the next call "
        "reconnects with the previous tensors)");
  };
  if (fresh) {
    if (d.gpu && fresh->SameSetup(*d.gpu)) {
      fresh->Adopt(*d.gpu);
      adopted = true;
    } else {
      if (d.gpu) PCC_RETURN_IF_ERROR(d.gpu->Synchronize());
      Status s = fresh->Connect(*d.session);
      if (!s.ok()) return d.Checked(s);
      new_setup = true;
    }
    auto specs = fresh->Specs();
    if (!specs.ok()) return undo(specs.status());
    table.SetDeviceSpecs(std::move(specs).value());
  }
  // A bigger staging area replaces the old one only once the daemon accepted
  // the table: on failure the previous registration stays whole.
  std::optional<client::Arena> grown;
  const uint64_t have = d.staging ? d.staging->memory->size() : 0;
  if (table.staging_bytes() > have) {
    auto arena = client::AllocateArena(*d.session, table.staging_bytes());
    if (!arena.ok()) return undo(arena.status().Annotate("allocating the staging area"));
    grown = std::move(arena).value();
  }
  auto version = d.SendTable(table, grown ? grown->id : d.staging_id());
  if (!version.ok()) return undo(version.status());
  d.table = std::move(table);
  d.table_version = *version;
  if (grown) d.staging = std::move(grown);
  d.gpu = std::move(fresh);
  return Status::Ok();
}

Result<RestoreInfo> Client::Restore(std::optional<uint64_t> step) {
  Impl& d = *impl_;
  PCC_RETURN_IF_ERROR(d.Connected());
  // Restoring rewrites the tensors, which a save in flight may still read.
  PCC_RETURN_IF_ERROR(d.WaitUntil([&] { return !d.tickets.AnySnapshotPending(); },
                                  client::kNoTimeout, "the snapshots of the saves in flight"));
  auto frame = d.session->Call(wire::MsgType::kRestore, wire::Encode(wire::Restore{step}),
                               wire::MsgType::kRestored, 0, {}, client::kNoTimeout);
  if (!frame.ok()) return d.Checked(frame.status());
  auto reply = wire::DecodeRestored(frame->payload);
  if (!reply.ok()) return d.Checked(d.session->Fail(reply.status().Annotate("kRestored")));
  if (step && reply->step != *step) {
    return d.Checked(d.session->Fail(
        Status::Corruption("asked to restore step " + std::to_string(*step) +
                           ", pccheckd restored step " + std::to_string(reply->step))));
  }
  if (d.table && d.table->staging_bytes() > 0) d.table->CopyFromStaging(d.staging->memory->data());
  if (d.gpu) PCC_RETURN_IF_ERROR(d.gpu->CopyBackFromStaging().Annotate("restoring GPU tensors"));
  return RestoreInfo{reply->step, std::move(reply->user_blob), std::move(reply->source),
                     std::move(reply->skipped)};
}

}  // namespace pccheck
