// The command lines of the `pccheck` commands (CLI11), each declared in its
// command's own file beside the code it feeds (bench.cc, status.cc,
// list_verify.cc, prune.cc, tune_args.cc; export and restore in
// export_restore_args.h). main.cc only registers them and dispatches.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands.h"

namespace pccheck::cli {

// Each adds its subcommand to app, binding the options to *o (which must
// outlive the parse), and returns it.
CLI::App* AddBench(CLI::App& app, BenchOptions* o);
CLI::App* AddStatus(CLI::App& app, StatusOptions* o);
CLI::App* AddList(CLI::App& app, ListOptions* o);
CLI::App* AddVerify(CLI::App& app, VerifyOptions* o);
CLI::App* AddPrune(CLI::App& app, PruneOptions* o);
CLI::App* AddTune(CLI::App& app, TuneOptions* o);

// --root DIR | --socket PATH, for the commands that reach a store either way
// (list, verify, prune; cli/store_access.h).
void AddStore(CLI::App* cmd, std::string* root, std::string* socket);
// What CLI11 cannot express: exactly one of --root and --socket. false, with
// a message on stderr naming both, when neither is given.
bool CheckStore(const char* command, const std::string& root, const std::string& socket);

}  // namespace pccheck::cli
