// pccheckd's settings: the one table that declares each of them (config key,
// flag, type, default, unit, meaning, the DaemonConfig field it sets), and what
// is built from it: the command line and config-file parser, `--help`,
// `--print-config`, docs/settings.md and the status document's "config". Add a
// setting to DaemonConfig (or EngineOptions) and a row to the table in
// settings_table.cc; nothing else lists them.
//
// Files: settings_table.cc (the rows), setting_values.* (value parsers and
// formatters), settings_parse.cc (command line, config file, checks),
// settings_render.cc (everything written from the table).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/engine_options.h"

namespace pccheck {

// A plain DaemonConfig holds every default that does not depend on who runs
// the daemon (the table reads them from here and from EngineOptions); root,
// socket and allow_uids are filled by DefaultDaemonConfig().
struct DaemonConfig {
  EngineOptions engine;  // root, pool_bytes, chunk_bytes, writers, max_inflight, policy, direct_io
  std::string socket;    // absolute path of the Unix socket clients connect to
  uint32_t socket_mode = 0660;
  // Peers allowed to connect, by SO_PEERCRED uid or gid. Root (uid 0) is always
  // allowed, whether listed or not: the authorizer must check it.
  std::vector<uint32_t> allow_uids;
  std::vector<uint32_t> allow_gids;
  // Members may use every job whoever owns it (as root and the daemon's uid may).
  std::vector<uint32_t> admin_gids;
  uint64_t blob_slot_bytes = 16ull << 20;
  std::string log_level = "info";  // trace, debug, info, warn or error
  uint32_t shutdown_timeout_s = 30;

  bool operator==(const DaemonConfig& o) const;
};

enum class SettingType { kPath, kSize, kInteger, kOctal, kEnum, kBool, kUidList, kGidList };

// "path", "size", "integer", "octal", "enum", "bool", "uid-list", "gid-list".
const char* SettingTypeName(SettingType t);

// One row of the table. Every pointer is to static storage.
struct Setting {
  const char* key;   // config-file key: `pool = "8GiB"`
  const char* flag;  // command-line flag, always "--" + key: `--pool 8GiB`
  SettingType type;
  const char* value_name;  // placeholder in --help: SIZE, N, PATH, block|skip
  // Where the default depends on the user: its rule as documented. nullptr
  // otherwise: the default is format(DaemonConfig{}).
  const char* default_rule;
  const char* unit;     // "bytes", "seconds", ... or "" when none applies
  const char* meaning;  // one line, what it does and why to change it
  // The DaemonConfig field it sets: "engine.pool_bytes". Without the struct
  // ("pool_bytes") it is the setting's name in the status document.
  const char* field;
  // Where the default depends on who runs the daemon: computes it as text
  // ("" when none can be found). nullptr exactly when default_rule is.
  std::string (*computed_default)();
  // Parses text as this setting and stores it in *c. Checks this value alone
  // (cross-checks happen after all are set). On failure leaves *c unchanged
  // and returns InvalidArgument whose message does not name the key yet.
  Status (*parse)(const std::string& text, DaemonConfig* c);
  // The value in *c as text that parse reads back to the same value.
  std::string (*format)(const DaemonConfig& c);
};

// The table, in the order help, --print-config and the docs list them.
std::span<const Setting> AllSettings();

// The row for config key `key`, or nullptr.
const Setting* FindSetting(std::string_view key);

// The default of s for this process (its effective uid and environment).
std::string DefaultText(const Setting& s);
// The default as documented: the rule where it depends on the user, else the
// value ("" for an empty list).
std::string DocumentedDefault(const Setting& s);

// Every setting at its default for this process. Fails (naming the key) only
// where no default can be found, e.g. root when neither $XDG_STATE_HOME nor
// $HOME nor the password database says where the home directory is.
Result<DaemonConfig> DefaultDaemonConfig();

// The checks that span settings (pool holds at least 2 chunks, then
// EngineOptions::Validate()), each failure naming the key to change.
Status ValidateDaemonConfig(const DaemonConfig& c);

// Parses pccheckd's command line (and --config FILE, a TOML/INI file read with
// CLI11's config support; command-line flags win over the file). Settings not
// given take their defaults for this process. Everything is validated here.
// On --help / --print-config / --help-settings-markdown prints to `out` and
// sets *exit_code = 0 with a nullopt config. On a bad value, an unknown flag or
// key, or an unreadable config file returns InvalidArgument naming the key
// (e.g. "pool: bad size '12QB': unknown unit 'QB'; expected ...") and sets
// *exit_code = 2. Never throws: CLI11's exceptions stop here.
Result<std::optional<DaemonConfig>> ParseDaemonCommandLine(int argc, char** argv, int* exit_code);
Result<std::optional<DaemonConfig>> ParseDaemonCommandLine(int argc, char** argv, int* exit_code,
                                                           std::ostream& out);

// The effective configuration as a config file pccheckd can read back (every
// key, with its meaning, type and default as a comment).
std::string PrintConfig(const DaemonConfig& c);

// The settings named by `keys` (config keys, in the order given; unknown ones
// are skipped) at their values in c, as config-file lines, each after a
// comment with its meaning: a snippet to paste into a file PrintConfig wrote.
std::string ConfigSnippet(const DaemonConfig& c, const std::vector<std::string>& keys);
// The same settings as pccheckd flags: "--chunk 16MiB --writers 8".
std::string FlagsFor(const DaemonConfig& c, const std::vector<std::string>& keys);

// docs/settings.md's content, generated from the table.
std::string SettingsMarkdown();

// The status document's "config" object: every setting, named by its field
// (Setting::field without "engine."), valued by type: sizes and integers as
// numbers, booleans as booleans, uid and gid lists as arrays of numbers,
// paths, words and the octal socket mode as strings.
std::string ConfigJson(const DaemonConfig& c);

}  // namespace pccheck
