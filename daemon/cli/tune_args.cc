// The command line of `pccheck tune` (cli/command_args.h); the command is
// tune.cc.
#include "cli/command_args.h"
#include "cli/option_kinds.h"
#include "cli/subcommand.h"

namespace pccheck::cli {

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

}  // namespace pccheck::cli
