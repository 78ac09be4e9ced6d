// The commit protocol: how a fully written checkpoint becomes `latest`.
#pragma once

#include "engine/slot_store.h"
#include "io/file_system.h"
#include "proto/manifest.h"

namespace pccheck {

// Makes the checkpoint described by `m`, whose chunks have all been written
// to `data` (the file of slot m.slot), durable and the store's latest.
//
// On ok: data, manifest and `latest` are durable and `latest` names m.step;
// the caller may acknowledge. On kAborted: a newer step was committed first
// (newest wins); the slot holds a valid but older checkpoint. On any other
// error: nothing may be acknowledged; `latest` still names a complete
// checkpoint (the previous one, or, if only the final directory sync failed,
// possibly this one).
// In every case the save has ended in `store` (FinishCommit or AbandonSave).
Status CommitCheckpoint(FileSystem* fs, SlotStore* store, File* data, const Manifest& m);

}  // namespace pccheck
