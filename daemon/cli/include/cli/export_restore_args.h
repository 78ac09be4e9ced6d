// The command lines of `pccheck export` and `pccheck restore` (CLI11), kept
// beside the commands rather than in main.cc, which only registers them.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace pccheck::cli {

// Adds the subcommand to app, binding its options to *o (which must outlive
// the parse).
CLI::App* AddExport(CLI::App& app, ExportOptions* o);
CLI::App* AddRestore(CLI::App& app, RestoreOptions* o);

}  // namespace pccheck::cli
