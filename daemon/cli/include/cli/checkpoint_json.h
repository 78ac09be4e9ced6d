// Checkpoints as JSON: what `pccheck list --json` prints. pccheckd sends its
// list as binary fields (kStoreListed, proto/store_wire.h); JSON is made only
// here, at the edge. Field names are a stable interface for scripts: add
// fields, never rename or remove.
//
// One checkpoint: {"job", "rank", "step", "slot", "bytes", "state",
// "wall_time", "latest", "kept"}; "slot" is null for a kept checkpoint (it
// is in no ring slot).
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"
#include "proto/store_wire.h"

namespace pccheck::cli {

std::string CheckpointJson(const CheckpointInfo& c);
// [c0<separator>c1...]
std::string CheckpointArrayJson(const std::vector<CheckpointInfo>& list,
                                const std::string& separator = ", ");

// A kStoreListed entry as the engine's CheckpointInfo (the same fields; the
// daemon fills them from one in server/store_requests.cc).
CheckpointInfo FromWire(const wire::StoreListed::Entry& e);

}  // namespace pccheck::cli
