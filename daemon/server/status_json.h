// The status document pccheckd serves (`pccheck status --json`). Field names
// are a stable interface for scripts: add fields, never rename or remove.
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/session.h"

namespace pccheck {

struct StatusView {
  std::string version;
  int64_t uptime_s = 0;
  std::string gpu;
  std::string socket;
  std::string config_json;  // an object, already rendered
  std::vector<SessionInfo> sessions;
  std::vector<InflightInfo> inflight;
  EngineStats stats;
};

std::string RenderStatusJson(const StatusView& v);

}  // namespace pccheck
