// `pccheck`: the command line. Parses arguments with CLI11 and hands each
// command its options (commands.h). CLI11's exceptions stop here: a bad
// argument becomes a message naming it and a non-zero exit.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "base/size_parse.h"
#include "cli/commands.h"
#include "cli/export_restore_args.h"
#include "cli/subcommand.h"
#include "pccheck/client.h"

namespace pccheck::cli {
namespace {

constexpr const char* kExamples = R"(Examples:
  pccheck bench --root /mnt/nvme/ckpt --size 1G --count 20 --inflight 3
  pccheck bench --root /tmp/store --size 8M --count 3 --chunk 1M --json
  pccheck bench --socket /run/pccheck/pccheckd.sock --size 256M --count 8 --clients 4
  pccheck bench --socket /run/pccheck/pccheckd.sock --size 512M --count 40 --every-ms 100
  pccheck status
  pccheck status --json --watch 2
  pccheck list --root /mnt/nvme/ckpt
  pccheck verify --root /mnt/nvme/ckpt --all
  pccheck prune --root /mnt/nvme/ckpt --keep 5 --dry-run
  pccheck export --root /mnt/nvme/ckpt --job gpt2 --format safetensors --out gpt2.safetensors
  pccheck restore --root /mnt/nvme/ckpt --job gpt2 --step 1000 --out /tmp/gpt2-step1000
  pccheck tune --root /mnt/nvme/ckpt --size 4G --iteration-time 0.5 --budget 2%

Sizes are bytes, or a number with K, M, G or T (powers of 1024; KiB/KB, MiB/MB... also
accepted): 4096, 64M, 1GiB. Run `pccheck COMMAND --help` for a command's options.
)";

// Lets a size option read "64M": CLI11 stores the byte count ParseSize made.
CLI::Validator SizeValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto bytes = ParseSize(text);
        if (!bytes.ok()) return bytes.status().message();
        text = std::to_string(bytes.value());
        return "";
      },
      "", "size");
}

// A whole number of at least 1 (CLI11's own range check prints 1.8e308 here).
CLI::Validator PositiveValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || p != end || v == 0) {
          return "expected a whole number of at least 1, got '" + text + "'";
        }
        return "";
      },
      "", "positive");
}

// A number from `text`, whole text only; nullopt when it is not one.
std::optional<double> Number(const std::string& text) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Seconds, as "0.5", "0.5s" or "500ms"; more than zero.
CLI::Validator SecondsValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string t = text;
        double scale = 1;
        if (t.ends_with("ms")) {
          t.resize(t.size() - 2), scale = 1e-3;
        } else if (t.ends_with("s")) {
          t.resize(t.size() - 1);
        }
        auto v = Number(t);
        if (!v || *v <= 0) {
          return "expected a time above zero in seconds such as 0.5 (or 500ms), got '" + text + "'";
        }
        text = std::to_string(*v * scale);
        return "";
      },
      "", "seconds");
}

// A slowdown: a fraction ("0.02") or a percentage ("2%"), below 100%.
CLI::Validator FractionValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string t = text;
        const bool percent = t.ends_with("%");
        if (percent) t.pop_back();
        auto v = Number(t);
        if (v && percent) *v /= 100;
        if (!v || *v < 0 || *v >= 1) {
          std::string hint;
          if (v && !percent && *v >= 1 && *v < 100) hint = " (for " + t + "% write " + t + "%)";
          return "expected the allowed slowdown as a fraction below 1 such as 0.02, or as a "
                 "percentage such as 2%, got '" +
                 text + "'" + hint;
        }
        text = std::to_string(*v);
        return "";
      },
      "", "fraction");
}

std::string Default(const std::string& v) { return " (default " + v + ")"; }
std::string Default(uint64_t v) { return Default(std::to_string(v)); }

CLI::App* AddBench(CLI::App& app, BenchOptions* o) {
  const BenchOptions d;
  CLI::App* cmd = AddCommand(
      app, "bench", "Measure checkpoint throughput against the disk's raw O_DIRECT write rate",
      "Saves COUNT checkpoints of SIZE random bytes through the engine as fast as it goes and\n"
      "prints `committed step=K` the moment each one commits; then writes as many bytes (up to\n"
      "8 GiB) with plain parallel O_DIRECT writes in 16 MiB blocks to the same directory.\n"
      "Summary: persist GB/s (checkpoint bytes / time until the last commit), raw GB/s and\n"
      "their ratio. Steps continue after the store's latest, so a bench can be rerun on the\n"
      "same store, also after being killed. It holds the store's lock while it runs: it is\n"
      "refused where a pccheckd or another bench is writing.\n\n"
      "With --socket PATH it measures a running pccheckd instead: --clients processes connect\n"
      "through libpccheck (ranks R..R+N-1 of --job), each saves COUNT checkpoints of SIZE\n"
      "random bytes from shared memory, and `committed step=K` (` rank=R` with several\n"
      "clients) is printed as each commits. Persist GB/s is all clients' bytes / time until\n"
      "the last commit. The summary adds the p50 and p99 of the time each save() call held\n"
      "its caller (save_hold_us_p50, save_hold_us_p99). The raw write test goes to the\n"
      "daemon's store directory (from its status), so run it on the daemon's machine.\n",
      {"pccheck bench --root /mnt/nvme/ckpt --size 1G --count 20 --inflight 3",
       "pccheck bench --socket /run/pccheck/pccheckd.sock --size 1G --count 8 \\",
       "  --clients 4"});
  CLI::Option* root =
      cmd->add_option("--root", o->root,
                      "Store directory, created when missing; a rerun continues its steps "
                      "(offline: the bench runs the engine itself)")
          ->type_name("DIR");
  CLI::Option* socket =
      cmd->add_option("--socket", o->socket,
                      "Instead of --root: drive the pccheckd listening here, as its clients "
                      "(run on the daemon's machine: the raw write test uses its store)")
          ->type_name("PATH")
          ->excludes(root);
  cmd->add_option(
         "--clients", o->clients,
         "With --socket: client processes saving at once, ranks R..R+N-1" + Default(d.clients))
      ->check(CLI::Range(1, 256))
      ->needs(socket)
      ->type_name("N");
  cmd->add_option("--every-ms", o->every_ms,
                  "With --socket: one trainer-shaped client that alternates MS ms of simulated "
                  "work (a sleep) with a save and a before_update, timing how long each held it")
      ->needs(socket)
      ->check(PositiveValidator())
      ->type_name("MS");
  cmd->add_option("--size", o->size, "Bytes per checkpoint, split into ~8 tensors of uneven sizes")
      ->required()
      ->transform(SizeValidator())
      ->type_name("SIZE");
  cmd->add_option("--count", o->count, "Checkpoints to save, one step each")
      ->required()
      ->check(PositiveValidator())
      ->type_name("N");
  const std::string inflight_default =
      Default(std::to_string(d.inflight) + "; with --socket, the daemon's max-inflight");
  cmd->add_option("--inflight", o->inflight,
                  "Checkpoints in flight at once, per client; a save waits while this many are" +
                      inflight_default)
      ->check(CLI::Range(1, 64))
      ->type_name("N");
  // The engine's settings: with --socket they are the daemon's, set where it starts.
  cmd->add_option("--chunk", o->chunk, "Pipeline chunk in bytes, a multiple of 4K" + Default("16M"))
      ->transform(SizeValidator())
      ->excludes(socket)
      ->type_name("SIZE");
  cmd->add_option("--writers", o->writers,
                  "Writer threads, also used for the raw write test" + Default(d.writers))
      ->check(CLI::Range(1, 256))
      ->excludes(socket)
      ->type_name("N");
  cmd->add_option("--pool", o->pool,
                  "Pinned host memory for chunks in bytes" +
                      Default("inflight x size, at most 2G, at least 2 chunks"))
      ->transform(SizeValidator())
      ->excludes(socket)
      ->type_name("SIZE");
  cmd->add_option("--job", o->job, "Job name the checkpoints are saved under" + Default(d.job))
      ->type_name("NAME");
  cmd->add_option(
         "--rank", o->rank,
         "Rank the checkpoints are saved under (with --clients, the first)" + Default(d.rank))
      ->type_name("R");
  cmd->add_option("--keep-every", o->keep_every,
                  "Retention: keep every checkpoint whose step is a multiple of K in kept/ "
                  "instead of overwriting it (pccheckd's keep-every)" +
                      Default("0, off"))
      ->excludes(socket)
      ->type_name("K");
  cmd->add_flag("--json", o->json, "Print the summary as one JSON object (GB = 1e9 bytes)");
  return cmd;
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

// --root DIR | --socket PATH; main() insists on one of them.
void AddStore(CLI::App* cmd, std::string* root, std::string* socket) {
  CLI::Option* r =
      cmd->add_option("--root", *root,
                      "Store directory; when a pccheckd owns it (its lock file names a socket "
                      "that answers), the daemon is asked instead of the disk")
          ->type_name("DIR");
  cmd->add_option("--socket", *socket, "Ask the pccheckd listening here about its store")
      ->type_name("PATH")
      ->excludes(r);
}

// Rejects what CLI11 cannot express: exactly one of --root and --socket.
bool CheckStore(const char* command, const std::string& root, const std::string& socket) {
  if (!root.empty() || !socket.empty()) return true;
  std::fprintf(stderr,
               "pccheck %s: --root DIR (a store directory) or --socket PATH (a running pccheckd) "
               "is required\nRun with --help for more information.\n",
               command);
  return false;
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

// --job and --rank are optional in PruneOptions; CLI11 fills these, main() moves them over.
struct PruneFilter {
  std::string job;
  uint32_t rank = 0;
};

CLI::App* AddPrune(CLI::App& app, PruneOptions* o, PruneFilter* filter) {
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
  cmd->add_option("--job", filter->job, "Only this job (default every job)")->type_name("NAME");
  cmd->add_option("--rank", filter->rank, "Only this rank (default every rank)")->type_name("R");
  cmd->add_flag("--dry-run", o->dry_run, "Only print what would be removed");
  cmd->add_flag("--json", o->json,
                "Print one JSON object: dry_run, keep, via, count, bytes, removed [{job, rank, "
                "step, bytes}]");
  return cmd;
}

CLI::App* AddTune(CLI::App& app, TuneOptions* o) {
  CLI::App* cmd = AddCommand(
      app, "tune", "Measure this node and recommend pccheckd settings and a checkpoint interval",
      "Writes scratch files in DIR: a warm-up, then one timed rewrite per point of a sweep of\n"
      "1..16 writer threads x 4..64 MiB chunks (--quick: 1..8 threads at 16 MiB, then 4 and\n"
      "64 MiB chunks), sized to finish in about --sweep-seconds; then times the snapshot copy\n"
      "(device to pinned host memory; without a GPU, memcpy), CRC32C and the commit's synced\n"
      "writes. Run it while the store is otherwise idle. From the rates, with S the checkpoint\n"
      "size (x ranks), W the write rate, C the copy rate, t the iteration time, q the budget:\n\n"
      "  T_w = S / W, T_c = S / C          persist and copy times of one checkpoint\n"
      "  L = max(T_w, T_c) + 2 chunks + commit     its life from save to commit\n"
      "  N = ceil(L / max(T_w, T_c))       in flight: a new one may start every L / N\n"
      "                                    (PCcheck's T_w / N), capped by --max-pool\n"
      "  pool = N x S                      every snapshot fits, so it never waits for the disk\n"
      "  spacing = max(T_w, T_c, L / N)    the shortest time between checkpoint starts\n"
      "  stall = max(0, snapshot - t)      the optimizer step waits for the snapshot\n"
      "  slowdown(k) = max(k t + stall, spacing) / (k t) - 1 for a checkpoint every k\n"
      "  iterations; the interval is the smallest k with slowdown(k) <= q.\n\n"
      "PCcheck's bound k >= T_w / (N q t) counts the whole persist time as slowdown; it is\n"
      "shown too. docs/tuning.md derives all of it. Exits 1 when no interval up to\n"
      "--max-interval keeps within the budget (everything is printed all the same).\n",
      {"pccheck tune --root /mnt/nvme/ckpt --size 4G --iteration-time 0.5 --budget 2%",
       "pccheck tune --root /mnt/nvme/ckpt --size 4G --iteration-time 0.5 --quick \\",
       "  --print-config >> /etc/pccheck/pccheckd.toml"});
  cmd->add_option("--size", o->size, "Bytes of one rank's checkpoint (its state dict)")
      ->required()
      ->transform(SizeValidator())
      ->type_name("SIZE");
  cmd->add_option("--iteration-time", o->iteration_s,
                  "Seconds one training iteration takes without checkpointing (0.5, 500ms)")
      ->required()
      ->transform(SecondsValidator())
      ->type_name("SECONDS");
  cmd->add_option("--budget", o->budget,
                  "Slowdown checkpointing may cost, a fraction or a percentage" + Default("0.02"))
      ->transform(FractionValidator())
      ->type_name("FRACTION");
  cmd->add_option("--root", o->root,
                  "Store directory to measure, created when missing" +
                      Default("pccheckd's default store for this user"))
      ->type_name("DIR");
  cmd->add_option(
         "--ranks", o->ranks,
         "Ranks on this node that save at the same steps through one pccheckd" + Default("1"))
      ->check(CLI::Range(1, 1024))
      ->type_name("N");
  cmd->add_option("--device", o->device,
                  "GPU whose device-to-host copy rate to measure" +
                      Default("0 where there is a GPU; without one, host memcpy"))
      ->check(CLI::Range(0, 1023))
      ->type_name("N");
  cmd->add_option(
         "--max-pool", o->max_pool,
         "Most pinned host memory the pool may take" + Default("half of this machine's memory"))
      ->transform(SizeValidator())
      ->type_name("SIZE");
  cmd->add_option("--max-interval", o->max_interval,
                  "Longest checkpoint interval worth having, in iterations" +
                      Default("one hour of iterations"))
      ->check(PositiveValidator())
      ->type_name("N");
  cmd->add_flag("--quick", o->quick, "A few sweep points in a few seconds instead of 25 points");
  cmd->add_option(
         "--sweep-seconds", o->sweep_seconds,
         "Time the write sweep's timed passes may take together" + Default("20, with --quick 4"))
      ->transform(SecondsValidator())
      ->type_name("SECONDS");
  CLI::Option* json = cmd->add_flag("--json", o->json,
                                    "Print the rates and every recommendation as one JSON object");
  cmd->add_flag("--print-config", o->print_config,
                "Print only the pccheckd config lines (writers, chunk, max-inflight, pool)")
      ->excludes(json);
  return cmd;
}

int Main(int argc, char** argv) {
  CLI::App app(
      "pccheck: persistent concurrent checkpointing for deep-learning training.\n"
      "Offline tools for a checkpoint store directory, and a look at a running pccheckd.",
      "pccheck");
  app.footer(kExamples);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log the engine's progress on stderr (default off)");

  BenchOptions bench;
  ListOptions list;
  VerifyOptions verify;
  PruneOptions prune;
  PruneFilter prune_filter;
  StatusOptions status;
  TuneOptions tune;
  CLI::App* bench_cmd = AddBench(app, &bench);
  CLI::App* status_cmd = AddStatus(app, &status);
  CLI::App* list_cmd = AddList(app, &list);
  CLI::App* verify_cmd = AddVerify(app, &verify);
  ExportOptions export_options;
  RestoreOptions restore_options;
  CLI::App* export_cmd = AddExport(app, &export_options);
  CLI::App* restore_cmd = AddRestore(app, &restore_options);
  CLI::App* prune_cmd = AddPrune(app, &prune, &prune_filter);
  CLI::App* tune_cmd = AddTune(app, &tune);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // Logs go to stderr, so stdout carries only results (`committed step=K`, JSON).
  spdlog::set_default_logger(spdlog::stderr_color_mt("pccheck"));
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);

  if (*bench_cmd) {
    if (bench.root.empty() && bench.socket.empty()) {
      std::fprintf(stderr,
                   "pccheck bench: --root DIR (a store this process writes) or --socket PATH (a "
                   "running pccheckd) is required\nRun with --help for more information.\n");
      return kExitUsage;
    }
    bench.inflight_given = bench_cmd->count("--inflight") > 0;
    if (bench.every_ms > 0) return RunTrainerBench(bench);
    return bench.socket.empty() ? RunBench(bench) : RunDaemonBench(bench);
  }
  if (*status_cmd) return RunStatus(status);
  if (*list_cmd) return CheckStore("list", list.root, list.socket) ? RunList(list) : kExitUsage;
  if (*verify_cmd) {
    return CheckStore("verify", verify.root, verify.socket) ? RunVerify(verify) : kExitUsage;
  }
  if (*prune_cmd) {
    if (prune_cmd->count("--job") > 0) prune.job = prune_filter.job;
    if (prune_cmd->count("--rank") > 0) prune.rank = prune_filter.rank;
    return CheckStore("prune", prune.root, prune.socket) ? RunPrune(prune) : kExitUsage;
  }
  if (*export_cmd) return RunExport(export_options);
  if (*restore_cmd) return RunRestore(restore_options);
  if (*tune_cmd) return RunTune(tune);
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace pccheck::cli

int main(int argc, char** argv) {
  try {
    return pccheck::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pccheck: unexpected error: %s\n", e.what());
    return pccheck::cli::kExitFailed;
  }
}
