// Restore: reads a committed checkpoint back, verifying every chunk.
#pragma once

#include <map>
#include <optional>
#include <string>

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

}  // namespace pccheck
