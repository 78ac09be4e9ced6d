#include "engine/commit.h"

#include "base/crc32c.h"

namespace pccheck {

// The order below is the whole of pccheck's crash safety. Never reorder it:
//
//   1. data durable     fdatasync(slot-K.data)
//   2. manifest durable slot-K.manifest.tmp, fsync, rename, fsync(dir)
//   3. latest switched  latest.tmp, fsync, rename over latest, fsync(dir)
//   4. acknowledge      (the caller, after this returns ok)
//
// A crash before 2 completes leaves slot K without a manifest: recovery
// treats it as incomplete and removes its data; `latest` still names the
// previous checkpoint, whose slot is never reused while it is latest. A crash
// between 2 and 3 leaves a valid manifest that `latest` does not name yet:
// still safe, and recovery may serve it only if `latest` is lost. A crash in 3
// leaves `latest` either old or new, both complete (rename is atomic).
// Nothing is acknowledged before 3 is durable, so every acknowledged
// checkpoint survives power loss. After a failed fsync nothing is retried:
// the error is reported and the checkpoint is not acknowledged.
Status CommitCheckpoint(FileSystem* fs, SlotStore* store, File* data, const Manifest& m) {
  Status s = data->Sync();
  if (!s.ok()) {
    store->AbandonSave(m.slot);
    return s.Annotate("making the data of step " + std::to_string(m.step) + " durable");
  }

  const std::string manifest = EncodeManifest(m);
  s = fs->WriteFileAtomic(store->ManifestPath(m.slot), manifest);
  if (!s.ok()) {
    // The manifest may or may not have reached the disk; if it did it
    // describes durable data, so either way the slot holds nothing torn.
    // Dropping it from memory only means the slot is reused sooner.
    store->AbandonSave(m.slot);
    return s.Annotate("writing the manifest of step " + std::to_string(m.step));
  }
  const uint32_t manifest_crc = ManifestChecksum(manifest);

  // Newest wins: concurrent commits of one store switch `latest` one at a
  // time, and never backwards.
  std::lock_guard lock(store->commit_mutex());
  auto latest = store->latest_step();
  if (latest && *latest >= m.step) {
    store->FinishCommit(m.slot, m, manifest_crc, /*make_latest=*/false);
    return Status::Aborted("step " + std::to_string(m.step) + " superseded by step " +
                           std::to_string(*latest) + ", committed first");
  }
  s = fs->WriteFileAtomic(store->LatestPath(), EncodeLatest({m.step, m.slot, manifest_crc}));
  // Even when the switch failed the slot holds a complete checkpoint, which
  // `latest` on disk may already name: keep it as committed so it is not
  // overwritten before older slots are.
  store->FinishCommit(m.slot, m, manifest_crc, /*make_latest=*/s.ok());
  return s.Annotate("switching latest to step " + std::to_string(m.step));
}

}  // namespace pccheck
