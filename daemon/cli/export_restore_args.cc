#include "cli/export_restore_args.h"

#include "cli/subcommand.h"

namespace pccheck::cli {

namespace {

constexpr const char* kWhichCheckpoint =
    "Reads the store directly, without a daemon and without changing it, so it is safe while\n"
    "pccheckd runs; every chunk is verified against its checksum. Without --step it takes the\n"
    "newest committed checkpoint that verifies (skipping damaged ones, and looking again if a\n"
    "running daemon recycles the slot while it reads); --step S takes step S from the ring\n"
    "or from kept/, or fails naming the steps that exist.\n";

void AddTarget(CLI::App* cmd, ReadTarget* t) {
  cmd->add_option("--root", t->root, "Store directory (the daemon's `root` setting)")
      ->required()
      ->type_name("DIR");
  cmd->add_option("--job", t->job, "Job name the checkpoints were saved under")
      ->required()
      ->type_name("NAME");
  cmd->add_option("--rank", t->rank, "Rank (default 0)")->type_name("R");
  cmd->add_option_function<uint64_t>(
         "--step", [t](const uint64_t& step) { t->step = step; },
         "Step to read (default: the newest committed that verifies)")
      ->type_name("S");
}

}  // namespace

CLI::App* AddExport(CLI::App& app, ExportOptions* o) {
  CLI::App* cmd = AddCommand(
      app, "export", "Write one checkpoint to a file other tools load: safetensors, or raw bytes",
      std::string(kWhichCheckpoint) +
          "\nsafetensors needs dtypes it has codes for (float32, bfloat16, int64, bool,\n"
          "float8_e4m3fn, ...; not complex) and sizes that agree with dtype and shape; raw\n"
          "keeps anything. Both are described in docs/export.md.\n",
      {"pccheck export --root /var/lib/pccheck --job gpt2 --format safetensors \\",
       "  --out gpt2.safetensors",
       "python3 -c 'from safetensors.torch import load_file; "
       "print(load_file(\"gpt2.safetensors\").keys())'",
       "pccheck export --root /var/lib/pccheck --job gpt2 --rank 1 --step 1000 \\",
       "  --format raw --out /tmp/rank1-step1000.bin"});
  AddTarget(cmd, &o->from);
  cmd->add_option("--format", o->format,
                  "safetensors: the standard format (job, rank, step and the user blob in its "
                  "__metadata__); raw: the data stream as stored, plus FILE.json")
      ->required()
      ->check(CLI::IsMember({"safetensors", "raw"}))
      ->type_name("FORMAT");
  cmd->add_option("--out", o->out,
                  "File to write; replaced only once the new one is complete (written as "
                  "FILE.tmp, synced, renamed)")
      ->required()
      ->type_name("FILE");
  cmd->add_flag("--json", o->json,
                "Print {file, format, job, rank, step, tensors, bytes, ...} instead of a sentence, "
                "and no progress bar");
  return cmd;
}

CLI::App* AddRestore(CLI::App& app, RestoreOptions* o) {
  CLI::App* cmd = AddCommand(
      app, "restore",
      "Write one checkpoint out as a directory: a file per tensor, user_blob.bin, index.json",
      std::string(kWhichCheckpoint) +
          "\nThe directory holds <tensor name>.bin per tensor (characters other than\n"
          "letters, digits, '.', '_' and '-' become '_'), user_blob.bin, and index.json\n"
          "(job, rank, step; per tensor name, dtype, shape, bytes, file), written last: a\n"
          "directory without index.json is incomplete. This is the operator's way to pull a\n"
          "checkpoint out for inspection or to move it; trainers restore through the daemon.\n",
      {"pccheck restore --root /var/lib/pccheck --job gpt2 --step 1000 \\",
       "  --out /tmp/gpt2-step1000"});
  AddTarget(cmd, &o->from);
  cmd->add_option("--out", o->out,
                  "Directory to write; created when missing, refused when not empty")
      ->required()
      ->type_name("DIR");
  cmd->add_flag("--force", o->force,
                "Write into a non-empty --out (files of the same names are replaced)");
  return cmd;
}

}  // namespace pccheck::cli
