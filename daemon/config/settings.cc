#include "config/settings.h"

#include <grp.h>
#include <pwd.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string_view>

#include "base/size_parse.h"
#include "proto/manifest.h"

namespace pccheck {
namespace {

// ---- Values as text -------------------------------------------------------

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

Result<int64_t> ParseInteger(const std::string& text, int64_t lo, int64_t hi) {
  const std::string t = Trim(text);
  int64_t v = 0;
  const char* end = t.data() + t.size();
  auto [p, ec] = std::from_chars(t.data(), end, v);
  if (t.empty() || ec != std::errc() || p != end) {
    return Status::InvalidArgument(Quoted(text) + " is not a whole number");
  }
  if (v < lo || v > hi) {
    return Status::InvalidArgument(t + " is not in " + std::to_string(lo) + ".." +
                                   std::to_string(hi));
  }
  return v;
}

// A byte count between lo and hi, a multiple of `multiple`.
Result<uint64_t> ParseSizeIn(const std::string& text, uint64_t lo, uint64_t hi, uint64_t multiple) {
  auto bytes = ParseSize(text);
  if (!bytes.ok()) return bytes.status();
  const uint64_t v = bytes.value();
  if (v % multiple != 0) {
    return Status::InvalidArgument(Quoted(Trim(text)) + " (" + std::to_string(v) +
                                   " bytes) is not a multiple of " + FormatSize(multiple));
  }
  if (v < lo || v > hi) {
    return Status::InvalidArgument(
        Quoted(Trim(text)) +
        (hi == UINT64_MAX ? " is below the minimum of " + FormatSize(lo)
                          : " is not between " + FormatSize(lo) + " and " + FormatSize(hi)));
  }
  return v;
}

// The shortest exact form that ParseSize reads back: "64MiB", "4GiB", "12345".
std::string ExactSize(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  for (int u = 3; u >= 0; --u) {
    const uint64_t unit = uint64_t{1} << (10 * (u + 1));
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + kUnits[u];
  }
  return std::to_string(bytes);
}

Result<std::string> ParseChoice(const std::string& text,
                                std::initializer_list<const char*> choices) {
  const std::string t = Trim(text);
  std::string all;
  for (const char* c : choices) {
    if (t == c) return t;
    all += all.empty() ? c : std::string(", ") + c;
  }
  return Status::InvalidArgument(Quoted(text) + " is not one of " + all);
}

Result<bool> ParseBool(const std::string& text) {
  std::string t = Trim(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return Status::InvalidArgument(Quoted(text) + " is not true or false (or yes/no, on/off, 1/0)");
}

Result<std::string> ParseAbsolutePath(const std::string& text) {
  const std::string t = Trim(text);
  if (t.empty()) return Status::InvalidArgument("the path is empty");
  if (t.front() != '/') {
    return Status::InvalidArgument(Quoted(t) +
                                   " is not an absolute path (a daemon's working directory is "
                                   "no place to resolve it against)");
  }
  return t;
}

// Items separated by commas or spaces; empty items are dropped.
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::string cur;
  for (char ch : text + ",") {
    if (ch == ',' || ch == ' ' || ch == '\t') {
      if (!cur.empty()) items.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  return items;
}

// A numeric id as text: a whole number below 2^32 - 1 ((uid_t)-1 means "none").
std::optional<uint32_t> NumericId(const std::string& s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == UINT32_MAX) {
    return std::nullopt;
  }
  return v;
}

// Resolves names with the password or group database; numbers pass unchecked
// (a uid need not have a name, e.g. in a container).
template <typename LookUp>
Result<std::vector<uint32_t>> ParseIds(const std::string& text, const char* what, LookUp look_up) {
  std::vector<uint32_t> ids;
  for (const std::string& item : SplitList(text)) {
    std::optional<uint32_t> id = NumericId(item);
    if (!id) id = look_up(item);
    if (!id) {
      return Status::InvalidArgument("no " + std::string(what) + " named " + Quoted(item) +
                                     " (give a name from the system's database or a number)");
    }
    if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  }
  return ids;
}

std::optional<uint32_t> LookUpUser(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(found->pw_uid);
}

std::optional<uint32_t> LookUpGroup(const std::string& name) {
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(65536);
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(found->gr_gid);
}

std::string JoinIds(const std::vector<uint32_t>& ids) {
  std::string out;
  for (uint32_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

// ---- Defaults that depend on who runs the daemon --------------------------

bool RunAsRoot() { return geteuid() == 0; }

// $name when set to an absolute path, else "".
std::string EnvDir(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && v[0] == '/') ? std::string(v) : std::string();
}

std::string HomeDir() {
  std::string home = EnvDir("HOME");
  if (!home.empty()) return home;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] == '/') {
    return found->pw_dir;
  }
  return "";
}

std::string DefaultRoot() {
  if (RunAsRoot()) return "/var/lib/pccheck";
  if (std::string state = EnvDir("XDG_STATE_HOME"); !state.empty()) return state + "/pccheck";
  std::string home = HomeDir();
  return home.empty() ? "" : home + "/.local/state/pccheck";
}

std::string DefaultSocket() {
  if (RunAsRoot()) return "/run/pccheck/pccheckd.sock";
  if (std::string run = EnvDir("XDG_RUNTIME_DIR"); !run.empty()) {
    return run + "/pccheck/pccheckd.sock";
  }
  return "/tmp/pccheck-" + std::to_string(geteuid()) + "/pccheckd.sock";
}

std::string DefaultAllowUid() { return std::to_string(geteuid()); }

// ---- The table ------------------------------------------------------------

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kGiB = 1ull << 30;

const Setting kSettings[] = {
    {"root", "--root", SettingType::kPath, "PATH",
     "/var/lib/pccheck as root; otherwise $XDG_STATE_HOME/pccheck, or ~/.local/state/pccheck", "",
     "Store directory: one directory per job and rank with its checkpoint slots and `latest`",
     "engine.root", DefaultRoot,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.root, ParseAbsolutePath(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return c.engine.root; }},

    {"pool", "--pool", SettingType::kSize, "SIZE", "4GiB", "bytes",
     "Page-locked host memory shared by every checkpoint on this node, allocated once at start; "
     "at least 2 chunks",
     "engine.pool_bytes", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.pool_bytes, ParseSizeIn(t, 8 * kKiB, UINT64_MAX, 1));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return ExactSize(c.engine.pool_bytes); }},

    {"chunk", "--chunk", SettingType::kSize, "SIZE", "64MiB", "bytes",
     "Pipeline unit: state is copied to host memory and written in chunks of this size; a "
     "multiple of 4 KiB, at most 2 GiB",
     "engine.chunk_bytes", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.chunk_bytes, ParseSizeIn(t, 4 * kKiB, 2 * kGiB, 4 * kKiB));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return ExactSize(c.engine.chunk_bytes); }},

    {"writers", "--writers", SettingType::kInteger, "N", "4", "threads",
     "Writer threads that checksum and write chunks (restores read with as many), 1 to 256",
     "engine.writers", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 1, 256));
       c->engine.writers = static_cast<int>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.writers); }},

    {"max-inflight", "--max-inflight", SettingType::kInteger, "N", "2", "checkpoints",
     "Checkpoints of one job and rank in flight at once, 1 to 64; the store keeps this many "
     "slots plus one",
     "engine.max_inflight", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 1, 64));
       c->engine.max_inflight = static_cast<int>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.max_inflight); }},

    {"policy", "--policy", SettingType::kEnum, "coalesce|block|skip", "coalesce", "",
     "When checkpoints come faster than the disk writes them: coalesce (each snapshot is taken "
     "into the pinned pool at copy speed; the disk always persists the newest one and older "
     "waiting ones end coalesced, so training never waits for the disk when the pool holds two "
     "snapshots per rank), block (every save is "
     "persisted; the trainer waits at its next optimizer step for pool memory and slots) or "
     "skip (a save the pool cannot take whole now fails at once and training never waits)",
     "engine.policy", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(std::string name, ParseChoice(t, {"coalesce", "block", "skip"}));
       PCC_ASSIGN_OR_RETURN(c->engine.policy, ParsePolicy(name));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::string(PolicyName(c.engine.policy)); }},

    {"direct-io", "--direct-io", SettingType::kBool, "BOOL", "true", "",
     "Write data files with O_DIRECT, bypassing the page cache; false for file systems without "
     "it (tmpfs)",
     "engine.direct_io", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.direct_io, ParseBool(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::string(c.engine.direct_io ? "true" : "false"); }},

    {"keep-resident", "--keep-resident", SettingType::kBool, "BOOL", "true", "",
     "Keep the newest checkpoint's bytes in the pool after it is written, until the pool needs "
     "the space, so a trainer restarted soon after restores it from memory instead of disk",
     "engine.keep_resident", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.keep_resident, ParseBool(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::string(c.engine.keep_resident ? "true" : "false"); }},
    {"keep-every", "--keep-every", SettingType::kInteger, "K", "0", "steps",
     "Retention: keep every checkpoint whose step is a multiple of K beside the ring of "
     "max-inflight + 1 slots, in <job>/rank-<R>/kept/, until `pccheck prune` removes it; 0 keeps "
     "none",
     "engine.keep_every", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 0, INT64_MAX));
       c->engine.keep_every = static_cast<uint64_t>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.keep_every); }},

    {"socket", "--socket", SettingType::kPath, "PATH",
     "/run/pccheck/pccheckd.sock as root; otherwise $XDG_RUNTIME_DIR/pccheck/pccheckd.sock, or "
     "/tmp/pccheck-<uid>/pccheckd.sock",
     "", "Unix socket that trainers connect to (at most 107 bytes, the kernel's limit)", "socket",
     DefaultSocket,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(std::string path, ParseAbsolutePath(t));
       if (path.size() >= sizeof(sockaddr_un::sun_path)) {
         return Status::InvalidArgument(Quoted(path) + " is " + std::to_string(path.size()) +
                                        " bytes long; a Unix socket path has at most " +
                                        std::to_string(sizeof(sockaddr_un::sun_path) - 1));
       }
       c->socket = std::move(path);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return c.socket; }},

    {"socket-mode", "--socket-mode", SettingType::kOctal, "MODE", "0660", "",
     "Permission bits of the socket file, in octal up to 0777; the kernel checks them before "
     "allow-uid and allow-group are",
     "socket_mode", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       std::string s = Trim(t);
       if (s.rfind("0o", 0) == 0) s = s.substr(2);
       uint32_t v = 0;
       auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 8);
       if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 0777) {
         return Status::InvalidArgument(Quoted(t) +
                                        " is not an octal mode like 0660 (at most 0777)");
       }
       c->socket_mode = v;
       return Status::Ok();
     },
     [](const DaemonConfig& c) {
       char buf[8];
       std::snprintf(buf, sizeof buf, "%04o", c.socket_mode);
       return std::string(buf);
     }},

    {"allow-uid", "--allow-uid", SettingType::kUidList, "USERS", "the daemon's own uid", "",
     "Users (names or uids, comma-separated) allowed to connect; root always is", "allow_uids",
     DefaultAllowUid,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->allow_uids, ParseIds(t, "user", LookUpUser));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return JoinIds(c.allow_uids); }},

    {"allow-group", "--allow-group", SettingType::kGidList, "GROUPS", "", "",
     "Groups (names or gids, comma-separated) whose members may connect too", "allow_gids", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->allow_gids, ParseIds(t, "group", LookUpGroup));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return JoinIds(c.allow_gids); }},

    {"blob-slot", "--blob-slot", SettingType::kSize, "SIZE", "16MiB", "bytes",
     "Room for the user blob (e.g. pickled non-tensor state) in each client's shared-memory "
     "segment; a save with a larger blob is refused. A multiple of 4 KiB, at most 256 MiB",
     "blob_slot_bytes", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->blob_slot_bytes,
                            ParseSizeIn(t, 4 * kKiB, kMaxUserBlobBytes, 4 * kKiB));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return ExactSize(c.blob_slot_bytes); }},

    {"log-level", "--log-level", SettingType::kEnum, "trace|debug|info|warn|error", "info", "",
     "Least severe message written to the log", "log_level", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->log_level,
                            ParseChoice(t, {"trace", "debug", "info", "warn", "error"}));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return c.log_level; }},

    {"shutdown-timeout", "--shutdown-timeout", SettingType::kInteger, "SECONDS", "30", "seconds",
     "On SIGTERM or SIGINT, how long in-flight checkpoints may take to commit before they are "
     "abandoned (0 to 86400)",
     "shutdown_timeout_s", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 0, 86400));
       c->shutdown_timeout_s = static_cast<uint32_t>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.shutdown_timeout_s); }},
};

// ---- Building a configuration ---------------------------------------------

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
                                       s.default_text + "); give " + s.flag);
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
  if (s.computed_default != nullptr) d += " here (" + std::string(s.default_text) + ")";
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

// A value as TOML: numbers and booleans bare, lists as arrays, the rest quoted.
std::string TomlValue(const Setting& s, const std::string& text) {
  switch (s.type) {
    case SettingType::kInteger:
    case SettingType::kBool:
      return text;
    case SettingType::kUidList:
    case SettingType::kGidList: {
      if (text.empty()) return "\"\"";
      std::string out;
      for (const auto& item : SplitList(text)) out += (out.empty() ? "" : ", ") + item;
      return "[" + out + "]";
    }
    default:
      return text.find('"') == std::string::npos ? "\"" + text + "\"" : "'" + text + "'";
  }
}

// A table cell: pipes escaped so they do not end the cell.
std::string Cell(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

const char* SettingTypeName(SettingType t) {
  switch (t) {
    case SettingType::kPath:
      return "path";
    case SettingType::kSize:
      return "size";
    case SettingType::kInteger:
      return "integer";
    case SettingType::kOctal:
      return "octal";
    case SettingType::kEnum:
      return "enum";
    case SettingType::kBool:
      return "bool";
    case SettingType::kUidList:
      return "uid-list";
    case SettingType::kGidList:
      return "gid-list";
  }
  return "?";
}

bool DaemonConfig::operator==(const DaemonConfig& o) const {
  const EngineOptions& a = engine;
  const EngineOptions& b = o.engine;
  return a.root == b.root && a.pool_bytes == b.pool_bytes && a.chunk_bytes == b.chunk_bytes &&
         a.writers == b.writers && a.max_inflight == b.max_inflight && a.policy == b.policy &&
         a.direct_io == b.direct_io && a.keep_resident == b.keep_resident &&
         a.keep_every == b.keep_every && socket == o.socket && socket_mode == o.socket_mode &&
         allow_uids == o.allow_uids && allow_gids == o.allow_gids &&
         blob_slot_bytes == o.blob_slot_bytes && log_level == o.log_level &&
         shutdown_timeout_s == o.shutdown_timeout_s;
}

std::span<const Setting> AllSettings() { return kSettings; }

std::string DefaultText(const Setting& s) {
  return s.computed_default != nullptr ? s.computed_default() : std::string(s.default_text);
}

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

std::string PrintConfig(const DaemonConfig& c) {
  std::ostringstream out;
  out << "# pccheckd settings, every key at its effective value.\n"
         "# Read with `pccheckd --config FILE`; flags on the command line win over this file.\n"
         "# Written by `pccheckd --print-config`; docs/settings.md describes every key.\n";
  for (const Setting& s : AllSettings()) {
    std::string type = SettingTypeName(s.type);
    if (s.type == SettingType::kEnum) type += " (" + std::string(s.value_name) + ")";
    if (s.unit[0] != '\0') type += ", in " + std::string(s.unit);
    const std::string d = s.default_text[0] != '\0' ? s.default_text : "none";
    out << "\n# " << s.meaning << ".\n# " << type << "; default: " << d << "\n"
        << s.key << " = " << TomlValue(s, s.format(c)) << "\n";
  }
  return out.str();
}

namespace {

const Setting* FindSetting(const std::string& key) {
  for (const Setting& s : AllSettings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

}  // namespace

std::string ConfigSnippet(const DaemonConfig& c, const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) {
    const Setting* s = FindSetting(key);
    if (s == nullptr) continue;
    out += "# " + std::string(s->meaning) + ".\n" + s->key + " = " + TomlValue(*s, s->format(c)) +
           "\n";
  }
  return out;
}

std::string FlagsFor(const DaemonConfig& c, const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) {
    const Setting* s = FindSetting(key);
    if (s == nullptr) continue;
    out += (out.empty() ? "" : " ") + std::string(s->flag) + " " + s->format(c);
  }
  return out;
}

std::string SettingsMarkdown() {
  std::ostringstream out;
  out << "# pccheckd settings\n\n"
         "<!-- Generated from the table in daemon/config/settings.cc; do not edit. Regenerate "
         "with\n     build/daemon/pccheckd --help-settings-markdown > docs/settings.md -->\n\n"
         "Every setting is a command-line flag (`--pool 8GiB`) and a key of the config file "
         "read\nwith `--config FILE` (`pool = \"8GiB\"`). A flag given on the command line wins "
         "over the\nfile; a setting given in neither takes its default. Everything is checked "
         "at start-up,\nand a bad value stops pccheckd with a message naming its key.\n\n"
         "| key | flag | type | default | unit | meaning |\n"
         "| --- | --- | --- | --- | --- | --- |\n";
  for (const Setting& s : AllSettings()) {
    const std::string d = s.default_text[0] != '\0' ? s.default_text : "none";
    const std::string d_cell = s.computed_default != nullptr || d == "none" ? d : "`" + d + "`";
    out << "| `" << s.key << "` | `" << Cell(std::string(s.flag) + " " + s.value_name) << "` | "
        << SettingTypeName(s.type) << " | " << Cell(d_cell) << " | " << s.unit << " | "
        << Cell(s.meaning) << " |\n";
  }
  out << "\n## Values\n\n"
         "- **size**: "
      << SizeForms()
      << ".\n"
         "- **integer**: a whole number in the range the meaning gives.\n"
         "- **octal**: a file mode such as `0660` (a leading `0o` is accepted).\n"
         "- **enum**: one of the words in the flag column.\n"
         "- **bool**: `true` or `false` (also `yes`/`no`, `on`/`off`, `1`/`0`).\n"
         "- **uid-list**, **gid-list**: user or group names, or numeric ids, separated by "
         "commas\n  (`--allow-uid alice,1001`; in a file `allow-uid = [1000, 1001]` or "
         "`\"alice,1001\"`).\n"
         "  A name must exist in the system's user or group database; a number is taken as "
         "is.\n"
         "- **path**: an absolute path.\n\n"
         "In a config file, quote sizes, paths and words (`root = \"/srv/ckpt\"`); a value "
         "cannot hold\n`#`, which starts a comment.\n"
         "\n## Config file\n\n"
         "One `key = value` line per setting (TOML; INI's `key=value` also reads), keys as in "
         "the\ntable, no sections. Unknown keys are refused. `pccheckd --print-config` prints "
         "the\neffective settings in this form, each with its meaning, so\n\n"
         "```sh\n"
         "pccheckd --print-config > /etc/pccheck/pccheckd.toml   # then edit\n"
         "pccheckd --config /etc/pccheck/pccheckd.toml\n"
         "```\n\n"
         "starts from a complete file. scripts/pccheckd.example.toml is one, for a daemon run "
         "as root.\n";
  return out.str();
}

}  // namespace pccheck
