// The kinds of option values `pccheck` commands share, as CLI11 validators,
// and how their --help states a default. Each command declares its options
// next to its code (cli/command_args.h); these keep them alike.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace pccheck::cli {

// A size: "64M", "1GiB", 4096 (base/size_parse.h); CLI11 stores the byte count.
CLI::Validator SizeValidator();
// A whole number of at least 1 (CLI11's own range check prints 1.8e308 here).
CLI::Validator PositiveValidator();
// Seconds, as "0.5", "0.5s" or "500ms"; more than zero. Stores seconds.
CLI::Validator SecondsValidator();
// A slowdown: a fraction ("0.02") or a percentage ("2%"), below 100%.
CLI::Validator FractionValidator();

// " (default V)", appended to an option's description.
std::string Default(const std::string& v);
std::string Default(uint64_t v);

}  // namespace pccheck::cli
