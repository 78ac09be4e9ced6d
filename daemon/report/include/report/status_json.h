// The status document pccheckd serves (`pccheck status --json`). Field names
// are a stable interface for scripts: add fields, never rename or remove.
//
//   version, uptime_s, socket, gpu, config{...}
//   sessions[]  id, job, rank, pid, uid, connected_at, saves, table_bytes,
//               inflight, device ("host", "0", "0,1", "host,0"; "" before
//               the session registered tensors), devices (GPU ids)
//   inflight[]  job, rank, step, bytes_total, bytes_copied, bytes_written,
//               stage ("copying", "writing", "committing"), elapsed_s
//   pool_bytes_total, pool_bytes_free, pool_locked, chunk_bytes,
//   saves_committed, saves_failed, saves_aborted, bytes_written, bytes_copied,
//   write_gbps_recent, copy_gbps_recent (GB = 1e9 bytes, over the last ~10 s),
//   recent_errors[] (newest last),
//   saves_coalesced, saves_skipped,
//   progress[]  per job and rank: job, rank, newest_snapshot_step,
//               newest_durable_step (null when none), durable_lag_steps,
//               durable_lag_s, committed, coalesced, skipped
//   unreadable[] job and rank directories found unreadable at start-up, not
//               served: job, rank (null for a job directory), path, why
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"
#include "report/session_info.h"

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
  std::vector<TierProgress> progress;
  std::vector<UnreadableDir> unreadable;
};

std::string RenderStatusJson(const StatusView& v);

}  // namespace pccheck
