#include "report/status_json.h"

#include "base/json.h"

namespace pccheck {

namespace {

template <typename T, typename F>
std::string Array(const std::vector<T>& items, F render) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + render(items[i]);
  return out + "]";
}

// "host", "0", "0,1", "host,0": where a session's tensors live; "" before
// it registered any.
std::string DeviceText(const SessionInfo& i) {
  std::string out = i.host_tensors ? "host" : "";
  for (int d : i.devices) out += (out.empty() ? "" : ",") + std::to_string(d);
  return out;
}

const char* Stage(const InflightInfo& i) {
  if (i.committing) return "committing";
  return i.snapshot_done ? "writing" : "copying";
}

}  // namespace

std::string RenderStatusJson(const StatusView& v) {
  const EngineStats& s = v.stats;
  JsonObject o;
  o.Add("version", v.version)
      .Add("uptime_s", v.uptime_s)
      .Add("socket", v.socket)
      .Add("gpu", v.gpu)
      .Raw("config", v.config_json.empty() ? "{}" : v.config_json)
      .Raw("sessions", Array(v.sessions,
                             [](const SessionInfo& i) {
                               return JsonObject()
                                   .Add("id", i.id)
                                   .Add("job", i.job)
                                   .Add("rank", i.rank)
                                   .Add("pid", static_cast<int64_t>(i.pid))
                                   .Add("uid", static_cast<uint32_t>(i.uid))
                                   .Add("connected_at", i.connected_at)
                                   .Add("saves", i.saves)
                                   .Add("table_bytes", i.table_bytes)
                                   .Add("inflight", i.inflight)
                                   .Add("device", DeviceText(i))
                                   .Raw("devices",
                                        Array(i.devices, [](int d) { return std::to_string(d); }))
                                   .str();
                             }))
      .Raw("inflight", Array(v.inflight,
                             [](const InflightInfo& i) {
                               return JsonObject()
                                   .Add("job", i.job)
                                   .Add("rank", i.rank)
                                   .Add("step", i.step)
                                   .Add("bytes_total", i.bytes_total)
                                   .Add("bytes_copied", i.bytes_copied)
                                   .Add("bytes_written", i.bytes_written)
                                   .Add("stage", Stage(i))
                                   .Add("elapsed_s", i.elapsed_s)
                                   .str();
                             }))
      .Add("pool_bytes_total", s.pool_bytes_total)
      .Add("pool_bytes_free", s.pool_bytes_free)
      .Add("pool_locked", s.pool_locked)
      .Add("chunk_bytes", s.chunk_bytes)
      .Add("saves_committed", s.saves_committed)
      .Add("saves_failed", s.saves_failed)
      .Add("saves_aborted", s.saves_superseded)
      .Add("saves_coalesced", s.saves_coalesced)
      .Add("saves_skipped", s.saves_skipped)
      .Raw("progress", Array(v.progress,
                             [](const TierProgress& p) {
                               auto step = [](const std::optional<uint64_t>& x) {
                                 return x ? std::to_string(*x) : std::string("null");
                               };
                               return JsonObject()
                                   .Add("job", p.job)
                                   .Add("rank", p.rank)
                                   .Raw("newest_snapshot_step", step(p.newest_snapshot_step))
                                   .Raw("newest_durable_step", step(p.newest_durable_step))
                                   .Add("durable_lag_steps", p.durable_lag_steps)
                                   .Add("durable_lag_s", p.durable_lag_s)
                                   .Add("committed", p.committed)
                                   .Add("coalesced", p.coalesced)
                                   .Add("skipped", p.skipped)
                                   .str();
                             }))
      .Add("bytes_written", s.bytes_written)
      .Add("bytes_copied", s.bytes_copied)
      .Add("write_gbps_recent", s.write_bytes_per_s_recent / 1e9)
      .Add("copy_gbps_recent", s.copy_bytes_per_s_recent / 1e9)
      .Raw("recent_errors",
           Array(s.recent_errors, [](const std::string& e) { return JsonString(e); }))
      .Raw("unreadable", Array(v.unreadable, [](const UnreadableDir& u) {
             JsonObject j;
             j.Add("job", u.job);
             if (u.rank) {
               j.Add("rank", *u.rank);
             } else {
               j.Raw("rank", "null");
             }
             return j.Add("path", u.path).Add("why", u.why).str();
           }));
  return o.str();
}

}  // namespace pccheck
