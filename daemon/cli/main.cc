// `pccheck`: the command line. Registers each command's CLI11 options (declared
// beside each command, cli/command_args.h), parses, and hands each command its
// options (commands.h). CLI11's exceptions stop here: a bad
// argument becomes a message naming it and a non-zero exit.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/command_args.h"
#include "cli/commands.h"
#include "cli/export_restore_args.h"

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
  CLI::App* prune_cmd = AddPrune(app, &prune);
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
