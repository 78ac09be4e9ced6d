#include "cli/option_kinds.h"

#include <charconv>
#include <cmath>
#include <optional>

#include "base/size_parse.h"

namespace pccheck::cli {
namespace {

// A number from `text`, whole text only; nullopt when it is not one.
std::optional<double> Number(const std::string& text) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

CLI::Validator SizeValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto bytes = ParseSize(text);
        if (!bytes.ok()) return bytes.status().message();
        text = std::to_string(bytes.value());
        return "";
      },
      "", "size");
}

CLI::Validator PositiveValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || p != end || v == 0) {
          return "expected a whole number of at least 1, got '" + text + "'";
        }
        return "";
      },
      "", "positive");
}

CLI::Validator SecondsValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string t = text;
        double scale = 1;
        if (t.ends_with("ms")) {
          t.resize(t.size() - 2), scale = 1e-3;
        } else if (t.ends_with("s")) {
          t.resize(t.size() - 1);
        }
        auto v = Number(t);
        if (!v || *v <= 0) {
          return "expected a time above zero in seconds such as 0.5 (or 500ms), got '" + text + "'";
        }
        text = std::to_string(*v * scale);
        return "";
      },
      "", "seconds");
}

CLI::Validator FractionValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string t = text;
        const bool percent = t.ends_with("%");
        if (percent) t.pop_back();
        auto v = Number(t);
        if (v && percent) *v /= 100;
        if (!v || *v < 0 || *v >= 1) {
          std::string hint;
          if (v && !percent && *v >= 1 && *v < 100) hint = " (for " + t + "% write " + t + "%)";
          return "expected the allowed slowdown as a fraction below 1 such as 0.02, or as a "
                 "percentage such as 2%, got '" +
                 text + "'" + hint;
        }
        text = std::to_string(*v);
        return "";
      },
      "", "fraction");
}

std::string Default(const std::string& v) { return " (default " + v + ")"; }
std::string Default(uint64_t v) { return Default(std::to_string(v)); }

}  // namespace pccheck::cli
