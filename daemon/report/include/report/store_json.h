// Checkpoints as JSON: what `pccheck list --json` prints and what pccheckd
// sends for kStoreListed (proto/store_wire.h), from one place so the two
// cannot drift apart. Field names are a stable interface for scripts: add
// fields, never rename or remove.
//
// One checkpoint: {"job", "rank", "step", "slot", "bytes", "state",
// "wall_time", "latest", "kept"}; "slot" is null for a kept checkpoint (it
// is in no ring slot).
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"

namespace pccheck {

std::string CheckpointJson(const CheckpointInfo& c);
// [c0<separator>c1...]
std::string CheckpointArrayJson(const std::vector<CheckpointInfo>& list,
                                const std::string& separator = ", ");
// {"root": root, "checkpoints": [...]}
std::string StoreListJson(const std::string& root, const std::vector<CheckpointInfo>& list);

}  // namespace pccheck
