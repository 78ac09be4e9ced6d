// pccheckd's command line and config file, read with CLI11 into the settings
// table's rows, then each value parsed by its row and the whole checked.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "config/settings.h"
#include "setting_values.h"

namespace pccheck {
namespace {

using config::ExactSize;
using config::Quoted;

// given[i]: the text given for setting i, or nullopt to take its default.
Result<DaemonConfig> BuildConfig(const std::vector<std::optional<std::string>>& given) {
  DaemonConfig c;
  const auto settings = AllSettings();
  for (size_t i = 0; i < settings.size(); ++i) {
    const Setting& s = settings[i];
    std::string text;
    if (given[i]) {
      text = *given[i];
    } else {
      text = DefaultText(s);
      if (text.empty() && s.computed_default != nullptr) {
        return Status::InvalidArgument(std::string(s.key) +
                                       ": no default can be found for this user (" +
                                       s.default_rule + "); give " + s.flag);
      }
    }
    Status st = s.parse(text, &c);
    if (!st.ok()) {
      return Status::InvalidArgument(std::string(s.key) + ": " + st.message() +
                                     (given[i] ? "" : " (the default)"));
    }
  }
  PCC_RETURN_IF_ERROR(ValidateDaemonConfig(c));
  return c;
}

bool IsList(const Setting& s) {
  return s.type == SettingType::kUidList || s.type == SettingType::kGidList;
}

std::string DefaultForHelp(const Setting& s) {
  std::string d = DefaultText(s);
  if (d.empty()) d = "none";
  if (s.unit[0] != '\0' && s.type != SettingType::kSize) d += " " + std::string(s.unit);
  if (s.default_rule != nullptr) d += " here (" + std::string(s.default_rule) + ")";
  return d;
}

constexpr const char* kFooter = R"(Examples:
  pccheckd --root /mnt/ssd/pccheck --pool 8GiB
  pccheckd --config /etc/pccheck/pccheckd.toml
  pccheckd --print-config > pccheckd.toml

Sizes are bytes, or a number with K, M, G or T (powers of 1024; KiB/KB, MiB/MB, ...
also accepted): 4096, 64M, 1GiB. Lists are comma-separated: --allow-uid alice,1001.
A config file holds `key = value` lines, one per setting, keyed by the flag without
its dashes (TOML; INI's `key=value` reads too): pool = "8GiB". Flags given on the
command line win over the file. docs/settings.md lists every setting.
)";

std::string AllKeys() {
  std::string keys;
  for (const Setting& s : AllSettings()) keys += (keys.empty() ? "" : ", ") + std::string(s.key);
  return keys;
}

// A CLI11 parse error as one line that says what is wrong and what to do.
// `config` is the --config option, whose value names the file.
std::string Describe(const CLI::ParseError& e, const CLI::Option* config) {
  std::string what = e.what();
  if (dynamic_cast<const CLI::FileError*>(&e) != nullptr) return "config file: " + what;
  if (dynamic_cast<const CLI::ConfigError*>(&e) != nullptr) {
    std::string file = "config file";
    if (config != nullptr && !config->results().empty()) file += " " + config->results().back();
    // CLI11 says "INI was not able to parse KEY" for a key no option has; a
    // section header shows up as "SECTION.++".
    const std::string marker = "not able to parse ";
    const size_t at = what.find(marker);
    if (at != std::string::npos) {
      const std::string key = what.substr(at + marker.size());
      if (key.find('.') != std::string::npos) {
        return file + ": '" + key.substr(0, key.find('.')) +
               "' is a section; pccheckd's keys stand at the top of the file, without sections";
      }
      return file + ": unknown key '" + key + "'; the keys are " + AllKeys();
    }
    return file + ": " + what;
  }
  return what + " (see pccheckd --help)";
}

Result<std::optional<DaemonConfig>> Parse(int argc, char** argv, int* exit_code,
                                          std::ostream& out) {
  CLI::App app(
      "pccheckd: the pccheck checkpoint daemon. Trainers on this node hand it their state;\n"
      "it copies, pipelines and persists checkpoints with a shared pinned-memory pool.",
      "pccheckd");
  app.footer(kFooter);
  app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is no silent default
  app.get_formatter()->column_width(32);
  CLI::Option* config_file = app.set_config(
      "--config", "", "Read settings from FILE (TOML or INI, `key = value`); flags win over it");
  config_file->type_name("FILE");
  bool print_config = false;
  bool markdown = false;
  app.add_flag("--print-config", print_config,
               "Print the effective settings as a config file and exit");
  app.add_flag("--help-settings-markdown", markdown,
               "Print docs/settings.md (every setting) and exit");

  const auto settings = AllSettings();
  std::vector<std::vector<std::string>> raw(settings.size());
  for (size_t i = 0; i < settings.size(); ++i) {
    const Setting& s = settings[i];
    CLI::Option* opt =
        app.add_option(s.flag, raw[i], std::string(s.meaning) + "\ndefault " + DefaultForHelp(s))
            ->type_name(s.value_name)
            ->group("Settings (flag, or key in the --config file)");
    if (!IsList(s)) opt->expected(1);  // one value per flag; lists may repeat it
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    *exit_code = 0;
    return std::optional<DaemonConfig>();
  } catch (const CLI::CallForAllHelp&) {
    out << app.help();
    *exit_code = 0;
    return std::optional<DaemonConfig>();
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(Describe(e, config_file));
  }

  if (markdown) {
    out << SettingsMarkdown();
    *exit_code = 0;
    return std::optional<DaemonConfig>();
  }

  std::vector<std::optional<std::string>> given(settings.size());
  for (size_t i = 0; i < settings.size(); ++i) {
    const Setting& s = settings[i];
    const auto& values = raw[i];
    if (values.empty()) continue;
    if (!IsList(s) && values.size() > 1) {
      std::string all;
      for (const auto& v : values) all += (all.empty() ? "" : ", ") + Quoted(v);
      return Status::InvalidArgument(std::string(s.key) + ": given " +
                                     std::to_string(values.size()) + " values (" + all +
                                     "); give one (in a config file, quote a value that holds "
                                     "spaces or commas)");
    }
    std::string text;
    for (const auto& v : values) text += (text.empty() ? "" : ",") + v;
    given[i] = std::move(text);
  }
  PCC_ASSIGN_OR_RETURN(DaemonConfig config, BuildConfig(given));

  if (print_config) {
    out << PrintConfig(config);
    *exit_code = 0;
    return std::optional<DaemonConfig>();
  }
  return std::optional<DaemonConfig>(std::move(config));
}

}  // namespace

Result<DaemonConfig> DefaultDaemonConfig() {
  return BuildConfig(std::vector<std::optional<std::string>>(AllSettings().size()));
}

Status ValidateDaemonConfig(const DaemonConfig& c) {
  if (c.engine.pool_bytes / 2 < c.engine.chunk_bytes) {
    return Status::InvalidArgument(
        "pool: " + ExactSize(c.engine.pool_bytes) + " holds fewer than 2 chunks of " +
        ExactSize(c.engine.chunk_bytes) + " (chunk); raise pool or lower chunk");
  }
  Status st = c.engine.Validate();
  if (st.ok()) return st;
  // Its messages start with the key ("writers: ..."); make sure of it.
  for (const Setting& s : AllSettings()) {
    if (st.message().rfind(std::string(s.key) + ":", 0) == 0) {
      return Status::InvalidArgument(st.message());
    }
  }
  return Status::InvalidArgument("engine settings (root, pool, chunk, writers, max-inflight): " +
                                 st.message());
}

Result<std::optional<DaemonConfig>> ParseDaemonCommandLine(int argc, char** argv, int* exit_code) {
  return ParseDaemonCommandLine(argc, argv, exit_code, std::cout);
}

Result<std::optional<DaemonConfig>> ParseDaemonCommandLine(int argc, char** argv, int* exit_code,
                                                           std::ostream& out) {
  *exit_code = 2;
  try {
    return Parse(argc, argv, exit_code, out);
  } catch (const std::exception& e) {
    *exit_code = 2;
    return Status::Internal(std::string("parsing the command line: ") + e.what());
  } catch (...) {
    *exit_code = 2;
    return Status::Internal("parsing the command line: unknown exception");
  }
}

}  // namespace pccheck
