// How each `pccheck` command is declared, so that every --help teaches the
// same way: a one-line summary, the options, then what the command does and
// how it is run.
#pragma once

#include <CLI/CLI.hpp>
#include <initializer_list>
#include <string>

namespace pccheck::cli {

// Adds subcommand `name` to app (which owns it). Its --help ends with `about`
// (lines each ending in '\n'), a blank line, and the `example` lines: the
// first after "Example: ", the others aligned under it (a continuation of a
// command line starts with two more spaces).
inline CLI::App* AddCommand(CLI::App& app, const std::string& name, const std::string& summary,
                            const std::string& about, std::initializer_list<const char*> example) {
  std::string footer = about + "\n";
  const char* lead = "Example: ";
  for (const char* line : example) {
    footer += lead;
    footer += line;
    footer += '\n';
    lead = "         ";
  }
  CLI::App* cmd = app.add_subcommand(name, summary);
  cmd->footer(footer);
  return cmd;
}

}  // namespace pccheck::cli
