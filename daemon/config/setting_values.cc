#include "setting_values.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "base/size_parse.h"

namespace pccheck::config {
namespace {

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

}  // namespace

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

const char* FormatBool(bool v) { return v ? "true" : "false"; }

Result<uint32_t> ParseOctalMode(const std::string& text) {
  std::string s = Trim(text);
  if (s.rfind("0o", 0) == 0) s = s.substr(2);
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 8);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 0777) {
    return Status::InvalidArgument(Quoted(text) + " is not an octal mode like 0660 (at most 0777)");
  }
  return v;
}

std::string FormatOctalMode(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

Result<std::vector<uint32_t>> ParseUsers(const std::string& text) {
  return ParseIds(text, "user", LookUpUser);
}

Result<std::vector<uint32_t>> ParseGroups(const std::string& text) {
  return ParseIds(text, "group", LookUpGroup);
}

std::string JoinIds(const std::vector<uint32_t>& ids) {
  std::string out;
  for (uint32_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

}  // namespace pccheck::config
