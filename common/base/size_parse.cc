#include "base/size_parse.h"

#include <cctype>
#include <cstdio>
#include <limits>

namespace pccheck {

namespace {

Status Bad(std::string_view text, const std::string& why) {
  return Status::InvalidArgument("bad size '" + std::string(text) + "': " + why + "; expected " +
                                 SizeForms());
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// log2 of the unit K, M, G or T (any case); 0 for anything else.
int UnitShift(char c) {
  constexpr std::string_view kUnits = "KMGT";
  const size_t at = kUnits.find(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return at == std::string_view::npos ? 0 : 10 * static_cast<int>(at + 1);
}

}  // namespace

const char* SizeForms() {
  return "a whole number of bytes, optionally with a unit K, M, G or T (powers of 1024, "
         "also written KiB/KB, MiB/MB, ...), e.g. 4096, 64M, 1GiB";
}

Result<uint64_t> ParseSize(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  if (s.empty()) return Bad(text, "it is empty");
  if (s.front() == '-') return Bad(text, "sizes cannot be negative");
  if (s.front() == '+') return Bad(text, "no sign allowed");

  uint64_t value = 0;
  size_t i = 0;
  for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
    const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return Bad(text, "it does not fit in 64 bits");
    }
    value = value * 10 + digit;
  }
  if (i == 0) return Bad(text, "it does not start with a number");
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    return Bad(text, "fractions are not accepted (write 1536M, not 1.5G)");
  }
  if (i < s.size() && IsSpace(s[i])) ++i;

  // "", "B", or K/M/G/T optionally followed by "B" or "iB" (any case).
  const std::string_view unit = s.substr(i);
  int shift = 0;
  if (!unit.empty() && !(unit == "B" || unit == "b")) {
    shift = UnitShift(unit.front());
    const std::string_view rest = unit.substr(1);
    const bool suffix_ok =
        rest.empty() || rest == "B" || rest == "b" || rest == "iB" || rest == "ib";
    if (shift == 0 || !suffix_ok) return Bad(text, "unknown unit '" + std::string(unit) + "'");
  }
  if (shift != 0 && value > (std::numeric_limits<uint64_t>::max() >> shift)) {
    return Bad(text, "it does not fit in 64 bits");
  }
  return value << shift;
}

std::string FormatSize(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (u < 6 && bytes >= (uint64_t{1} << (10 * (u + 1)))) ++u;
  if (u == 0) return std::to_string(bytes) + " B";
  const uint64_t unit = uint64_t{1} << (10 * u);
  if (bytes % unit == 0) return std::to_string(bytes / unit) + " " + kUnits[u];
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(bytes) / static_cast<double>(unit));
  std::string out = buf;
  while (out.back() == '0') out.pop_back();  // "1.50" -> "1.5"
  if (out.back() == '.') out.pop_back();     // "1.00" -> "1" (a remainder below 0.005)
  return out + " " + kUnits[u];
}

}  // namespace pccheck
