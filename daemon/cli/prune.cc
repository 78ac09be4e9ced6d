// `pccheck prune`: removes kept checkpoints (retention, `keep-every`) beyond

#include "cli/command_args.h"
#include "cli/subcommand.h"
// the newest N of each job and rank. Never a ring slot, never `latest`.
//
// Offline it takes the store lock (io/store_lock.h) without waiting, so it
// never removes files under a writer. When a daemon holds the lock, the
// daemon is asked to prune instead (over the socket its lock file names, or
// --socket): it does so through its engine, under its own locks.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/size_parse.h"
#include "cli/commands.h"
#include "cli/store_access.h"
#include "io/store_lock.h"

namespace pccheck::cli {

namespace {

int Failed(const Status& s) {
  std::fprintf(stderr, "pccheck prune: %s\n", s.ToString().c_str());
  return s.code() == Code::kNotFound || s.code() == Code::kInvalidArgument ? kExitUsage
                                                                           : kExitFailed;
}

Result<wire::Pruned> PruneOffline(const std::string& root, const wire::Prune& request) {
  PCC_ASSIGN_OR_RETURN(OfflineStore store, OpenOfflineStore(root, /*read_only=*/false));
  PruneRequest pr{request.keep, request.job, request.rank, request.dry_run};
  PCC_ASSIGN_OR_RETURN(auto pruned, store.engine->Prune(pr));
  wire::Pruned out;
  out.dry_run = request.dry_run;
  for (const auto& p : pruned) out.removed.push_back({p.job, p.rank, p.step, p.bytes});
  return out;
}

// Through the daemon when one owns the store, else here under the lock.
Result<wire::Pruned> Prune(const PruneOptions& o, const wire::Prune& request, std::string* via) {
  if (!o.socket.empty()) {
    *via = "pccheckd at " + o.socket;
    return DaemonPrune(o.socket, request);
  }
  if (!NewPosixFileSystem()->Exists(o.root)) {
    return Status::NotFound("no checkpoint store at '" + o.root +
                            "': the directory does not exist. Pass --root with the directory "
                            "that `pccheck bench --root` or the daemon writes its store to");
  }
  auto lock = StoreLock::TryAcquire(o.root, StoreLockHolder{::getpid(), "", "pccheck prune"});
  if (lock.ok()) {
    *via = o.root;
    return PruneOffline(o.root, request);
  }
  if (lock.status().code() != Code::kBusy) return lock.status();
  auto holder = ReadStoreLockHolder(o.root);
  if (!holder.ok() || holder->socket.empty()) {
    return Status::Busy(lock.status().message() +
                        ". It takes no requests: run prune again when it has finished");
  }
  *via = "pccheckd at " + holder->socket;
  return DaemonPrune(holder->socket, request);
}

}  // namespace

int RunPrune(const PruneOptions& o) {
  wire::Prune request;
  request.keep = o.keep;
  request.job = o.job;
  request.rank = o.rank;
  request.dry_run = o.dry_run;
  std::string via;
  auto pruned = Prune(o, request, &via);
  if (!pruned.ok()) return Failed(pruned.status());

  uint64_t bytes = 0;
  for (const auto& e : pruned->removed) bytes += e.bytes;
  if (o.json) {
    std::string removed = "[";
    for (size_t i = 0; i < pruned->removed.size(); ++i) {
      const auto& e = pruned->removed[i];
      removed += (i ? ",\n  " : "") + JsonObject()
                                          .Add("job", e.job)
                                          .Add("rank", e.rank)
                                          .Add("step", e.step)
                                          .Add("bytes", e.bytes)
                                          .str();
    }
    removed += "]";
    std::printf("%s\n", JsonObject()
                            .Add("dry_run", o.dry_run)
                            .Add("keep", o.keep)
                            .Add("via", via)
                            .Add("count", static_cast<uint64_t>(pruned->removed.size()))
                            .Add("bytes", bytes)
                            .Raw("removed", removed)
                            .str()
                            .c_str());
    return kExitOk;
  }
  const char* verb = o.dry_run ? "would remove" : "removed";
  for (const auto& e : pruned->removed) {
    std::printf("%s kept %s rank %u step %llu, %s\n", verb, e.job.c_str(), e.rank,
                static_cast<unsigned long long>(e.step), FormatSize(e.bytes).c_str());
  }
  std::printf(
      "%s %zu kept checkpoint%s (%s) through %s; the newest %u of each job and rank "
      "stay%s\n",
      verb, pruned->removed.size(), pruned->removed.size() == 1 ? "" : "s",
      FormatSize(bytes).c_str(), via.c_str(), o.keep,
      o.dry_run ? " (dry run: nothing was removed)" : "");
  return kExitOk;
}

CLI::App* AddPrune(CLI::App& app, PruneOptions* o) {
  CLI::App* cmd = AddCommand(
      app, "prune", "Remove kept checkpoints beyond the newest N of each job and rank",
      "Kept checkpoints are the ones retention (pccheckd --keep-every K) moved out of the\n"
      "ring into <job>/rank-<R>/kept/; nothing else removes them. prune never touches a\n"
      "ring slot or `latest`. With --root it locks the store, so it is refused while a bench\n"
      "writes it; when a pccheckd owns the store, the daemon prunes through its own engine.\n"
      "Prints each checkpoint it removed (or, with --dry-run, would remove).\n",
      {"pccheck prune --root /mnt/nvme/ckpt --keep 5 --dry-run",
       "pccheck prune --socket /run/pccheck/pccheckd.sock --keep 2 --job gpt2"});
  AddStore(cmd, &o->root, &o->socket);
  cmd->add_option("--keep", o->keep, "Kept checkpoints to leave, per job and rank (0: none)")
      ->required()
      ->check(CLI::Range(0u, 1u << 30))
      ->type_name("N");
  // --job and --rank are optional in PruneOptions: set only when given.
  cmd->add_option_function<std::string>(
         "--job", [o](const std::string& job) { o->job = job; },
         "Only this job (default every job)")
      ->type_name("NAME");
  cmd->add_option_function<uint32_t>(
         "--rank", [o](const uint32_t& rank) { o->rank = rank; },
         "Only this rank (default every rank)")
      ->type_name("R");
  cmd->add_flag("--dry-run", o->dry_run, "Only print what would be removed");
  cmd->add_flag("--json", o->json,
                "Print one JSON object: dry_run, keep, via, count, bytes, removed [{job, rank, "
                "step, bytes}]");
  return cmd;
}

}  // namespace pccheck::cli
