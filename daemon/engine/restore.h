// Restore: reads a committed checkpoint back, verifying every chunk.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/slot_store.h"

namespace pccheck {

// Reads `step` (or, without one, the latest and then older committed
// checkpoints until one verifies) from `store` into dests, with
// options.writers parallel O_DIRECT readers. On failure the destination
// buffers may hold partial data; a damaged checkpoint is never reported as
// restored.
Result<RestoreResult> RestoreFromStore(FileSystem* fs, Gpu* gpu, const SlotStore& store,
                                       const EngineOptions& options, std::optional<uint64_t> step,
                                       const std::map<std::string, TensorDest>& dests);

// Restores checkpoint m from a copy of its data stream held in memory, chunk
// i at chunks[i] (the pool's resident chunks), verifying every chunk as a
// read from disk would. The caller keeps the chunks from changing meanwhile.
Status RestoreFromChunks(Gpu* gpu, const Manifest& m, const std::vector<const uint8_t*>& chunks,
                         const std::map<std::string, TensorDest>& dests, int threads);

}  // namespace pccheck
