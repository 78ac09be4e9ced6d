// `pccheck status`: asks a running pccheckd how it is doing.

#include "cli/command_args.h"
#include "cli/subcommand.h"
#include "pccheck/client.h"
//
// --json prints the daemon's document unchanged (its field names are the
// stable interface, server/status_json.h). Otherwise the document is parsed
// (json_parse.h) and shown as a summary for people; a field the daemon does
// not send is shown as "?" or left out, never an error, so this works against
// older and newer daemons alike.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "base/json_parse.h"
#include "base/size_parse.h"
#include "cli/commands.h"
#include "pccheck/client.h"

namespace pccheck::cli {

namespace {

std::string Duration(int64_t s) {
  if (s < 0) s = 0;
  char buf[64];
  if (s >= 86400) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "d %02" PRId64 "h %02" PRId64 "m", s / 86400,
                  s % 86400 / 3600, s % 3600 / 60);
  } else if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "h %02" PRId64 "m %02" PRId64 "s", s / 3600,
                  s % 3600 / 60, s % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 "s", s);
  }
  return buf;
}

std::string Size(const JsonValue& v) {
  return v.type() == JsonValue::Type::kNumber ? FormatSize(v.AsUint()) : "?";
}

std::string Text(const JsonValue& v) {
  switch (v.type()) {
    case JsonValue::Type::kString:
      return v.AsString();
    case JsonValue::Type::kNumber:
      return std::to_string(v.AsInt());
    case JsonValue::Type::kBool:
      return v.AsBool() ? "yes" : "no";
    default:
      return "?";
  }
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

// A table with left-aligned columns as wide as their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string Render(const std::string& indent) const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) {
        if (width.size() <= i) width.push_back(0);
        width[i] = std::max(width[i], r[i].size());
      }
    }
    std::string out;
    for (const auto& r : rows_) {
      std::string line = indent;
      for (size_t i = 0; i < r.size(); ++i) {
        line += r[i];
        if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
      }
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A gauge: "[#####...............]" filled to part/whole.
std::string Bar(uint64_t part, uint64_t whole, int width = 20) {
  const int filled =
      whole == 0
          ? 0
          : static_cast<int>(static_cast<double>(std::min(part, whole)) / whole * width + 0.5);
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

std::string Gbps(const JsonValue& v) {
  if (v.type() != JsonValue::Type::kNumber) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB/s", v.AsDouble());
  return buf;
}

std::string Seconds(const JsonValue& v) {
  if (v.type() != JsonValue::Type::kNumber) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", v.AsDouble());
  return buf;
}

// Shown in this order, so the eye finds the same thing in the same place:
// who and where, the pool, the rates, the counters, the sessions, the saves
// in flight, and the errors last, nearest the prompt.
std::string Readable(const JsonValue& d, int64_t now) {
  std::string out;
  auto line = [&out](const std::string& label, const std::string& text) {
    out += label + std::string(label.size() < 10 ? 10 - label.size() : 1, ' ') + text + "\n";
  };
  out += "pccheckd " + Text(d["version"]) + ", up " + Duration(d["uptime_s"].AsInt()) +
         ", socket " + Text(d["socket"]) + "\n";
  line("GPU", d["gpu"].AsString().empty() ? "none" : d["gpu"].AsString());

  const JsonValue& c = d["config"];
  if (c.is_object()) {
    line("store", Text(c["root"]));
    line("config", "pool " + Size(c["pool_bytes"]) + ", chunk " + Size(c["chunk_bytes"]) + ", " +
                       Text(c["writers"]) + " writers, max " + Text(c["max_inflight"]) +
                       " in flight per client, policy " + Text(c["policy"]) + ", O_DIRECT " +
                       (c["direct_io"].AsBool(true) ? "on" : "off"));
  }

  const uint64_t total = d["pool_bytes_total"].AsUint(), free = d["pool_bytes_free"].AsUint();
  if (d.Find("pool_bytes_total") != nullptr) {
    const uint64_t used = total - std::min(free, total);
    line("pool", Bar(used, total) + " " + FormatSize(used) + " of " + FormatSize(total) +
                     " in use (" + Percent(used, total) + "), " + FormatSize(free) + " free, " +
                     (d["pool_locked"].AsBool() ? "pinned" : "not pinned (mlock refused)"));
  }
  if (d.Find("write_gbps_recent") != nullptr) {
    line("rates", "write " + Gbps(d["write_gbps_recent"]) + ", copy " +
                      Gbps(d["copy_gbps_recent"]) + " (last 10 s)");
  }
  line("counters", Text(d["saves_committed"]) + " committed, " + Text(d["saves_coalesced"]) +
                       " coalesced, " + Text(d["saves_skipped"]) + " skipped, " +
                       Text(d["saves_failed"]) + " failed, " + Text(d["saves_aborted"]) +
                       " abandoned, " + Size(d["bytes_written"]) + " written");
  const auto& progress = d["progress"].items();
  if (!progress.empty()) {
    line("durable", "newest snapshot (in memory or on disk) against newest durable step:");
    Table t({"JOB", "RANK", "SNAPSHOT", "DURABLE", "LAG", "COMMITTED", "COALESCED", "SKIPPED"});
    for (const auto& p : progress) {
      const bool durable = p["newest_durable_step"].type() == JsonValue::Type::kNumber;
      const bool memory_only = p["durable_lag_steps"].AsUint() > 0 || !durable;
      t.Row({Text(p["job"]), Text(p["rank"]),
             p["newest_snapshot_step"].type() == JsonValue::Type::kNumber
                 ? Text(p["newest_snapshot_step"]) + (memory_only ? " (in memory only)" : "")
                 : "-",
             durable ? Text(p["newest_durable_step"]) : "-",
             Text(p["durable_lag_steps"]) + " steps, " + Seconds(p["durable_lag_s"]),
             Text(p["committed"]), Text(p["coalesced"]), Text(p["skipped"])});
    }
    out += t.Render("  ");
  }

  const auto& sessions = d["sessions"].items();
  line("sessions", std::to_string(sessions.size()) + (sessions.empty() ? "" : ":"));
  if (!sessions.empty()) {
    Table t({"JOB", "RANK", "PID", "UID", "DEVICE", "SAVES", "IN FLIGHT", "TENSORS", "CONNECTED"});
    for (const auto& s : sessions) {
      const int64_t at = s["connected_at"].AsInt();
      const std::string device = s.Find("device") == nullptr      ? "?"
                                 : s["device"].AsString().empty() ? "-"
                                                                  : s["device"].AsString();
      t.Row({Text(s["job"]), Text(s["rank"]), Text(s["pid"]), Text(s["uid"]), device,
             Text(s["saves"]), Text(s["inflight"]), Size(s["table_bytes"]),
             at > 0 ? Duration(now - at) + " ago" : "?"});
    }
    out += t.Render("  ");
  }

  const auto& inflight = d["inflight"].items();
  line("in flight", std::to_string(inflight.size()) + (inflight.empty() ? "" : ":"));
  if (!inflight.empty()) {
    Table t({"JOB", "RANK", "STEP", "SIZE", "STAGE", "COPIED", "WRITTEN", "COMMITTED", "AGE"});
    for (const auto& i : inflight) {
      const uint64_t bytes = i["bytes_total"].AsUint();
      const std::string stage = Text(i["stage"]);
      t.Row({Text(i["job"]), Text(i["rank"]), Text(i["step"]), Size(i["bytes_total"]), stage,
             Percent(i["bytes_copied"].AsUint(), bytes),
             Percent(i["bytes_written"].AsUint(), bytes), stage == "committing" ? "running" : "-",
             Seconds(i["elapsed_s"])});
    }
    out += t.Render("  ");
  }

  // Not served until repaired: right above the errors, where the eye ends.
  for (const auto& u : d["unreadable"].items()) line("unreadable", Text(u["why"]));

  const auto& errors = d["recent_errors"].items();
  if (errors.empty()) {
    line("errors", "none recently");
  } else {
    line("errors", std::to_string(errors.size()) + " recent, newest last:");
    for (const auto& e : errors) out += "  " + Text(e) + "\n";
  }
  return out;
}

// One look: prints the status; false (with the reason on stderr) when the
// daemon cannot be asked or answers with something that is not JSON.
bool ShowOnce(const StatusOptions& o, const std::string& socket) {
  auto doc = QueryStatusJson(socket);
  if (!doc.ok()) {
    std::fprintf(stderr, "pccheck status: %s\n", doc.status().message().c_str());
    return false;
  }
  if (o.json) {
    std::printf("%s\n", doc->c_str());
  } else {
    auto parsed = ParseJson(*doc);
    if (!parsed.ok()) {
      std::fprintf(stderr, "pccheck status: pccheckd at %s sent a status that is not JSON: %s\n",
                   socket.c_str(), parsed.status().message().c_str());
      return false;
    }
    std::fputs(Readable(*parsed, static_cast<int64_t>(std::time(nullptr))).c_str(), stdout);
  }
  std::fflush(stdout);
  return true;
}

}  // namespace

int RunStatus(const StatusOptions& o) {
  const std::string socket = o.socket.empty() ? DefaultSocketPath() : o.socket;
  if (o.watch_s <= 0) return ShowOnce(o, socket) ? kExitOk : kExitFailed;
  const bool tty = !o.json && ::isatty(STDOUT_FILENO) == 1;
  for (;;) {
    if (tty) std::fputs("\033[H\033[2J", stdout);  // redraw in place
    if (!ShowOnce(o, socket)) return kExitFailed;
    if (!tty && !o.json) std::puts("");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.watch_s));
  }
}

CLI::App* AddStatus(CLI::App& app, StatusOptions* o) {
  CLI::App* cmd = AddCommand(
      app, "status", "Show what a running pccheckd is doing: sessions, checkpoints in flight, pool",
      "Exits 1, naming the socket and how to start pccheckd, when no daemon answers there.\n",
      {"pccheck status --socket /run/pccheck/pccheckd.sock"});
  cmd->add_option(
         "--socket", o->socket,
         "The daemon's socket (default here: " + DefaultSocketPath() + "; $PCCHECK_SOCKET sets it)")
      ->type_name("PATH");
  cmd->add_flag("--json", o->json,
                "Print the daemon's status document unchanged (fields: sessions, inflight, "
                "pool_bytes_total, pool_bytes_free, saves_committed, write_gbps_recent, "
                "copy_gbps_recent, recent_errors, config, ...)");
  cmd->add_option("--watch", o->watch_s, "Show it again every SECONDS until interrupted")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  return cmd;
}

}  // namespace pccheck::cli
