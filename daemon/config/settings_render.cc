// What is rendered from the settings table: a config file (--print-config),
// snippets and flags for `pccheck tune`, docs/settings.md, and the status
// document's "config" object.
#include <sstream>

#include "base/json.h"
#include "base/size_parse.h"
#include "config/settings.h"
#include "setting_values.h"

namespace pccheck {
namespace {

using config::SplitList;

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

// The status document's name for a setting: its DaemonConfig field without
// the struct ("engine.pool_bytes" -> "pool_bytes").
std::string StatusKey(const Setting& s) {
  const std::string_view field = s.field;
  const size_t dot = field.rfind('.');
  return std::string(dot == std::string_view::npos ? field : field.substr(dot + 1));
}

// A value as JSON, by the row's type: sizes as byte counts, integers and
// booleans bare, id lists as arrays of numbers, the rest (paths, words, the
// octal mode) as strings.
std::string JsonValueOf(const Setting& s, const std::string& text) {
  switch (s.type) {
    case SettingType::kSize: {
      auto bytes = ParseSize(text);
      return bytes.ok() ? std::to_string(*bytes) : JsonString(text);
    }
    case SettingType::kInteger:
    case SettingType::kBool:
      return text;
    case SettingType::kUidList:
    case SettingType::kGidList: {
      JsonArray ids;
      for (const std::string& item : SplitList(text)) ids.Raw(item);
      return ids.str();
    }
    default:
      return JsonString(text);
  }
}

}  // namespace

std::string PrintConfig(const DaemonConfig& c) {
  std::ostringstream out;
  out << "# pccheckd settings, every key at its effective value.\n"
         "# Read with `pccheckd --config FILE`; flags on the command line win over this file.\n"
         "# Written by `pccheckd --print-config`; docs/settings.md describes every key.\n";
  for (const Setting& s : AllSettings()) {
    std::string type = SettingTypeName(s.type);
    if (s.type == SettingType::kEnum) type += " (" + std::string(s.value_name) + ")";
    if (s.unit[0] != '\0') type += ", in " + std::string(s.unit);
    std::string d = DocumentedDefault(s);
    if (d.empty()) d = "none";
    out << "\n# " << s.meaning << ".\n# " << type << "; default: " << d << "\n"
        << s.key << " = " << TomlValue(s, s.format(c)) << "\n";
  }
  return out.str();
}

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
         "<!-- Generated from the table in daemon/config/settings_table.cc; do not edit. "
         "Regenerate "
         "with\n     build/daemon/pccheckd --help-settings-markdown > docs/settings.md -->\n\n"
         "Every setting is a command-line flag (`--pool 8GiB`) and a key of the config file "
         "read\nwith `--config FILE` (`pool = \"8GiB\"`). A flag given on the command line wins "
         "over the\nfile; a setting given in neither takes its default. Everything is checked "
         "at start-up,\nand a bad value stops pccheckd with a message naming its key.\n\n"
         "| key | flag | type | default | unit | meaning |\n"
         "| --- | --- | --- | --- | --- | --- |\n";
  for (const Setting& s : AllSettings()) {
    std::string d = DocumentedDefault(s);
    if (d.empty()) d = "none";
    const std::string d_cell = s.default_rule != nullptr || d == "none" ? d : "`" + d + "`";
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

std::string ConfigJson(const DaemonConfig& c) {
  JsonObject o;
  for (const Setting& s : AllSettings()) o.Raw(StatusKey(s), JsonValueOf(s, s.format(c)));
  return o.str();
}

}  // namespace pccheck
