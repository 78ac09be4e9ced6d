#include "report/store_json.h"

#include "base/json.h"

namespace pccheck {

std::string CheckpointJson(const CheckpointInfo& c) {
  cli::JsonObject o;
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
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out += separator;
    out += CheckpointJson(list[i]);
  }
  return out + "]";
}

std::string StoreListJson(const std::string& root, const std::vector<CheckpointInfo>& list) {
  return cli::JsonObject().Add("root", root).Raw("checkpoints", CheckpointArrayJson(list)).str();
}

}  // namespace pccheck
