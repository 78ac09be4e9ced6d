#include "cli/checkpoint_json.h"

#include "base/json.h"

namespace pccheck::cli {

std::string CheckpointJson(const CheckpointInfo& c) {
  JsonObject o;
  o.Add("job", c.job).Add("rank", c.rank).Add("step", c.step);
  if (c.kept) {
    o.Raw("slot", "null");
  } else {
    o.Add("slot", c.slot);
  }
  return o.Add("bytes", c.bytes)
      .Add("state", c.state)
      .Add("wall_time", c.wall_time)
      .Add("latest", c.latest)
      .Add("kept", c.kept)
      .str();
}

std::string CheckpointArrayJson(const std::vector<CheckpointInfo>& list,
                                const std::string& separator) {
  JsonArray out(separator);
  for (const CheckpointInfo& c : list) out.Raw(CheckpointJson(c));
  return out.str();
}

CheckpointInfo FromWire(const wire::StoreListed::Entry& e) {
  CheckpointInfo c;
  c.job = e.job;
  c.rank = e.rank;
  c.step = e.step;
  c.slot = e.slot;
  c.bytes = e.bytes;
  c.wall_time = e.wall_time;
  c.latest = e.latest;
  c.kept = e.kept;
  c.state = e.state;
  return c;
}

}  // namespace pccheck::cli
