// Restore: reads a committed checkpoint back, verifying every chunk.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/slot_store.h"

namespace pccheck {

// Reads `step` (a ring slot or a kept checkpoint) or, without one, the
// latest and then older committed and kept checkpoints until one verifies,
// from `store` into dests, with options.writers parallel O_DIRECT readers.
// On failure the destination buffers may hold partial data; a damaged
// checkpoint is never reported as restored.
//
// A checkpoint can change under a reader: its ring slot reused by a newer
// save, moved to kept/, or a kept one pruned (by this process's engine, or
// by another process next to a read-only one). A read that fails because
// of that is not damage: a moved one is read from kept/, and one that is
// gone fails with kAborted, "superseded while verifying" or "pruned while
// verifying". Only a checkpoint whose manifest is unchanged on disk is
// reported as damaged (kCorruption).
//
// progress, when set, is called from reader threads with the bytes of each
// chunk read and checked.
Result<RestoreResult> RestoreFromStore(FileSystem* fs, Gpu* gpu, const SlotStore& store,
                                       const EngineOptions& options, std::optional<uint64_t> step,
                                       const std::map<std::string, TensorDest>& dests,
                                       const std::function<void(uint64_t)>& progress = {});

// Restores checkpoint m from a copy of its data stream held in memory, chunk
// i at chunks[i] (the pool's resident chunks), verifying every chunk as a
// read from disk would. The caller keeps the chunks from changing meanwhile.
Status RestoreFromChunks(Gpu* gpu, const Manifest& m, const std::vector<const uint8_t*>& chunks,
                         const std::map<std::string, TensorDest>& dests, int threads);

}  // namespace pccheck
