// `pccheck list` and `pccheck verify`: what a store holds, and whether it

#include "cli/command_args.h"
#include "cli/subcommand.h"
// reads back intact.
//
// The store is reached through cli/store_access.h: the pccheckd that owns
// it when one runs there (it lists and verifies through its own engine,
// under its locks), else the directory itself, opened read-only (nothing is
// cleaned up or changed). A reader racing a writer (a daemon, or a bench
// next to a direct read) can see a ring slot reused or a kept checkpoint
// pruned under it: verify reports that as superseded, never as damage.
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/size_parse.h"
#include "cli/checkpoint_json.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/store_access.h"

namespace pccheck::cli {

namespace {

// Exits as main.cc documents: a store that is not there is a usage error.
int Failed(const char* command, const Status& s) {
  std::fprintf(stderr, "pccheck %s: %s\n", command, s.ToString().c_str());
  return s.code() == Code::kNotFound ? kExitUsage : kExitFailed;
}

// The store's checkpoints, from its daemon or its directory. `offline` keeps
// the directory's engine open for verify.
Result<std::vector<CheckpointInfo>> Load(const char* command, const StoreSource& src,
                                         std::optional<OfflineStore>* offline) {
  if (!src.socket.empty()) return src.listed;
  if (!src.unanswered.empty()) {
    std::fprintf(stderr, "pccheck %s: note: %s\n", command, src.unanswered.c_str());
  }
  if (!src.other_writer.empty()) {
    std::fprintf(stderr,
                 "pccheck %s: note: %s is writing %s; checkpoints it replaces meanwhile show "
                 "up as superseded\n",
                 command, src.other_writer.c_str(), src.root.c_str());
  }
  PCC_ASSIGN_OR_RETURN(OfflineStore store, OpenOfflineStore(src.root, /*read_only=*/true));
  std::vector<CheckpointInfo> list = store.engine->List();
  offline->emplace(std::move(store));
  return list;
}

std::string FormatTime(int64_t wall_time) {
  const std::time_t t = static_cast<std::time_t>(wall_time);
  std::tm tm{};
  char buf[32];
  if (localtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, "%F %T", &tm) == 0) {
    return std::to_string(wall_time);
  }
  return buf;
}

std::string Name(const CheckpointInfo& c) {
  return c.job + " rank " + std::to_string(c.rank) + " step " + std::to_string(c.step);
}

bool IsCommitted(const CheckpointInfo& c) { return c.state == "committed"; }

// An entry for a job or rank directory the store's engine cannot read.
bool IsUnreadableDir(const CheckpointInfo& c) { return c.state.starts_with(kUnreadableDirState); }

void PrintTable(const std::vector<CheckpointInfo>& list) {
  std::printf("%-16s %5s %10s %10s %-20s %-10s %s\n", "JOB", "RANK", "STEP", "SIZE", "TIME",
              "STATE", "LATEST");
  for (const auto& c : list) {
    const std::string state = c.kept && IsCommitted(c) ? "kept" : c.state;
    std::printf("%-16s %5u %10llu %10s %-20s %-10s %s\n", c.job.c_str(), c.rank,
                static_cast<unsigned long long>(c.step), FormatSize(c.bytes).c_str(),
                FormatTime(c.wall_time).c_str(), state.c_str(), c.latest ? "*" : "");
  }
}

// ---- verify -------------------------------------------------------------------

struct Outcome {
  CheckpointInfo c;
  std::string result;  // "ok", "damaged", "superseded", "error"
  Status status;
};

// A job and rank with checkpoints but no latest one, and why.
struct Missing {
  std::string name;  // "job rank R"
  std::string why;
};

// What verify checks: with all, everything listed; else the latest of each
// job and rank. A job and rank that has checkpoints but no latest (its ring
// slots are damaged, or its directory cannot be read) is a failure by
// itself: `missing` collects those.
std::vector<CheckpointInfo> Targets(const std::vector<CheckpointInfo>& list, bool all,
                                    std::vector<Missing>* missing) {
  if (all) return list;
  std::vector<CheckpointInfo> out;
  std::map<std::pair<std::string, uint32_t>, std::optional<std::string>> has_latest;
  for (const auto& c : list) {
    auto& why = has_latest[{c.job, c.rank}];
    if (c.latest) {
      out.push_back(c);
      why = "";
    } else if (!why && IsUnreadableDir(c)) {
      why = c.state;
    }
  }
  for (const auto& [key, why] : has_latest) {
    if (why && why->empty()) continue;
    missing->push_back(
        {key.first + " rank " + std::to_string(key.second), why ? *why : "its slots are damaged"});
  }
  return out;
}

std::string Classify(const Status& s) {
  if (s.ok()) return "ok";
  if (s.code() == Code::kCorruption) return "damaged";
  // Gone or changed since it was listed: a newer checkpoint took its slot,
  // or it was pruned. Not damage.
  if (s.code() == Code::kAborted || s.code() == Code::kNotFound) return "superseded";
  return "error";
}

Status Check(const StoreSource& src, std::optional<OfflineStore>& offline, const CheckpointInfo& c,
             Progress& progress) {
  if (!IsCommitted(c)) return Status::Corruption(c.state);
  auto add = [&progress](uint64_t n) { progress.Add(n); };
  if (offline) return offline->engine->Verify(c.job, c.rank, c.step, add);
  auto v = DaemonVerify(src.socket, wire::Verify{c.job, c.rank, c.step}, add);
  if (!v.ok()) return v.status();
  if (v->code == 0) return Status::Ok();
  if (!IsKnownCode(v->code)) return Status::Internal(v->message);
  return Status(static_cast<Code>(v->code), v->message);
}

std::string Tag(const CheckpointInfo& c) {
  std::string tag;
  if (c.latest) tag += " (latest)";
  if (c.kept) tag += " (kept)";
  return tag;
}

void PrintVerifyJson(const StoreSource& src, const std::vector<Outcome>& outcomes,
                     const std::vector<Missing>& missing, uint64_t bytes, bool ok) {
  std::string results = "[";
  std::map<std::string, uint64_t> counts;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& o = outcomes[i];
    ++counts[o.result];
    JsonObject j;
    j.Add("job", o.c.job).Add("rank", o.c.rank).Add("step", o.c.step);
    if (o.c.kept) {
      j.Raw("slot", "null");
    } else {
      j.Add("slot", o.c.slot);
    }
    j.Add("bytes", o.c.bytes)
        .Add("latest", o.c.latest)
        .Add("kept", o.c.kept)
        .Add("result", o.result)
        .Add("message", o.status.ok() ? "" : o.status.ToString());
    results += (i ? ",\n  " : "") + j.str();
  }
  results += "]";
  std::string no_latest = "[";
  for (size_t i = 0; i < missing.size(); ++i) {
    no_latest += (i ? ", " : "") + JsonString(missing[i].name);
  }
  no_latest += "]";
  JsonObject doc;
  doc.Add("root", src.root)
      .Add("daemon", src.socket)
      .Add("ok", ok)
      .Add("verified", counts["ok"])
      .Add("damaged", counts["damaged"])
      .Add("superseded", counts["superseded"])
      .Add("errors", counts["error"])
      .Add("bytes_verified", bytes)
      .Raw("without_latest", no_latest)
      .Raw("checkpoints", results);
  std::printf("%s\n", doc.str().c_str());
}

}  // namespace

int RunList(const ListOptions& o) {
  auto src = FindStore(o.root, o.socket);
  if (!src.ok()) return Failed("list", src.status());
  std::optional<OfflineStore> offline;
  auto list = Load("list", *src, &offline);
  if (!list.ok()) return Failed("list", list.status());
  if (o.json) {
    std::printf("%s\n", CheckpointArrayJson(*list, ",\n ").c_str());
  } else if (list->empty()) {
    std::printf("no checkpoints in %s\n", src->root.c_str());
  } else {
    PrintTable(*list);
  }
  return kExitOk;
}

int RunVerify(const VerifyOptions& o) {
  auto src = FindStore(o.root, o.socket);
  if (!src.ok()) return Failed("verify", src.status());
  std::optional<OfflineStore> offline;
  auto list = Load("verify", *src, &offline);
  if (!list.ok()) return Failed("verify", list.status());

  std::vector<Missing> missing;
  const std::vector<CheckpointInfo> targets = Targets(*list, o.all, &missing);
  uint64_t total = 0;
  for (const auto& c : targets) total += IsCommitted(c) ? c.bytes : 0;
  std::vector<Outcome> outcomes;
  uint64_t checked = 0;
  {
    Progress progress("verify", total, /*enabled=*/!o.json);
    for (const auto& c : targets) {
      Status s = Check(*src, offline, c, progress);
      if (s.ok()) checked += c.bytes;
      outcomes.push_back({c, Classify(s), s});
    }
    progress.Finish();
  }

  // Damaged latest checkpoints fail the command, and with --all damaged
  // kept ones too (they are what retention is for); damaged older ring
  // slots are reported: restore skips them and they are reused. A directory
  // that cannot be read fails it either way.
  std::vector<std::string> fatal;
  for (const auto& out : outcomes) {
    const bool bad = out.result == "damaged" || out.result == "error";
    if (bad && IsUnreadableDir(out.c)) {
      fatal.push_back(out.c.job + " rank " + std::to_string(out.c.rank) + ": " + out.c.state);
    } else if (bad && (out.c.latest || out.c.kept)) {
      fatal.push_back((out.c.latest ? "the latest checkpoint " : "the kept checkpoint ") +
                      Name(out.c) + " is damaged");
    }
  }
  for (const auto& m : missing) fatal.push_back(m.name + " has no latest checkpoint: " + m.why);
  const bool ok = fatal.empty();

  if (o.json) {
    PrintVerifyJson(*src, outcomes, missing, checked, ok);
  } else if (list->empty()) {
    std::printf("no checkpoints in %s: nothing to verify\n", src->root.c_str());
    return kExitOk;
  } else {
    int good = 0, superseded = 0, bad_older = 0;
    for (const auto& out : outcomes) {
      const std::string tag = Tag(out.c);
      if (out.result == "ok") {
        ++good;
        std::printf("OK    %s%s, %s\n", Name(out.c).c_str(), tag.c_str(),
                    FormatSize(out.c.bytes).c_str());
      } else if (out.result == "superseded") {
        ++superseded;
        std::printf("SKIP  %s%s: %s\n", Name(out.c).c_str(), tag.c_str(),
                    out.status.message().c_str());
      } else {
        if (!out.c.latest && !out.c.kept && !IsUnreadableDir(out.c)) ++bad_older;
        std::printf("FAIL  %s%s: %s\n", Name(out.c).c_str(), tag.c_str(),
                    out.status.ToString().c_str());
      }
    }
    for (const auto& m : missing) {
      std::printf("FAIL  %s: no latest checkpoint: %s\n", m.name.c_str(), m.why.c_str());
    }
    std::printf("%d of %zu checkpoints verify", good, outcomes.size());
    if (superseded > 0) std::printf("; %d superseded while verifying (not damage)", superseded);
    if (bad_older > 0) std::printf("; %d older ones do not (restore skips them)", bad_older);
    if (ok) {
      std::printf(o.all ? "; every latest and kept checkpoint verifies\n"
                        : "; every latest checkpoint verifies\n");
    } else {
      std::printf("\n");
    }
  }
  std::fflush(stdout);
  for (const auto& f : fatal) std::fprintf(stderr, "pccheck verify: %s\n", f.c_str());
  return ok ? kExitOk : kExitFailed;
}

CLI::App* AddList(CLI::App& app, ListOptions* o) {
  CLI::App* cmd = AddCommand(
      app, "list",
      "List the checkpoints in a store: job, rank, step, size, time, state, latest, kept",
      "Lists the ring slots and the kept checkpoints (retention) of every job and rank. A\n"
      "store that a pccheckd owns is listed by the daemon; otherwise the directory is read,\n"
      "changing nothing.\n",
      {"pccheck list --root /mnt/nvme/ckpt --json",
       "pccheck list --socket /run/pccheck/pccheckd.sock"});
  AddStore(cmd, &o->root, &o->socket);
  cmd->add_flag("--json", o->json,
                "Print a JSON array of {job, rank, step, slot, bytes, state, wall_time, latest, "
                "kept}; slot is null for kept checkpoints");
  return cmd;
}

CLI::App* AddVerify(CLI::App& app, VerifyOptions* o) {
  CLI::App* cmd = AddCommand(
      app, "verify",
      "Check every chunk of the latest checkpoints (--all: of every one) against its checksum",
      "Reads the latest checkpoint of every job and rank back (with --all, every committed\n"
      "and kept one) with a progress bar on stderr, and prints one line per checkpoint: OK,\n"
      "FAIL and the problem, or SKIP when a running writer replaced or pruned it while it\n"
      "was read (superseded: not damage). Exits 0 unless a latest checkpoint (with --all,\n"
      "also a kept one) is damaged; damaged older slots are reported, and restore skips\n"
      "them. A store that a pccheckd owns is verified by the daemon.\n",
      {"pccheck verify --root /mnt/nvme/ckpt && echo store is good",
       "pccheck verify --root /mnt/nvme/ckpt --all --json"});
  AddStore(cmd, &o->root, &o->socket);
  cmd->add_flag("--all", o->all,
                "Check every committed and kept checkpoint, not only the latest of each job and "
                "rank");
  cmd->add_flag("--json", o->json,
                "Print one JSON object: ok, counts, and per checkpoint {job, rank, step, slot, "
                "bytes, latest, kept, result, message}; result is ok, damaged, superseded or "
                "error");
  return cmd;
}

}  // namespace pccheck::cli
