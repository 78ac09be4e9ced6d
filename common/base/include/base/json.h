// pccheck's JSON, with no dependency: this writer and its reader
// (base/json_parse.h) are the one JSON module of the daemon, the CLI and the
// tests. JSON is only ever an edge format: the status document, `--json`
// output, export indexes; messages on the socket are binary (proto/).
//
// Writing builds text directly: JsonObject field by field, JsonArray item by
// item, each value either a scalar (escaped here) or JSON already rendered.
// Keys are written as given (they are literals in our code).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pccheck {

// `s` as a quoted JSON string: escapes quotes, backslashes and control bytes.
// Bytes >= 0x80 pass through (UTF-8 stays UTF-8).
inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// A tensor shape as a JSON array: "[2,3]".
inline std::string JsonShape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

// Builds [item, ...] item by item; `separator` goes between items (", ", or
// ",\n " for one item per line).
class JsonArray {
 public:
  explicit JsonArray(std::string separator = ", ") : separator_(std::move(separator)) {}
  JsonArray& Add(std::string_view s) { return Raw(JsonString(s)); }
  JsonArray& Add(int64_t v) { return Raw(std::to_string(v)); }
  JsonArray& Add(uint64_t v) { return Raw(std::to_string(v)); }
  JsonArray& Add(uint32_t v) { return Raw(std::to_string(v)); }
  JsonArray& Add(int v) { return Raw(std::to_string(v)); }
  // `json` must already be valid JSON.
  JsonArray& Raw(std::string_view json) {
    if (!empty_) body_ += separator_;
    body_ += json;
    empty_ = false;
    return *this;
  }
  std::string str() const { return "[" + body_ + "]"; }

 private:
  std::string separator_;
  std::string body_;
  bool empty_ = true;
};

// Builds {"key": value, ...} field by field.
class JsonObject {
 public:
  JsonObject& Add(std::string_view key, std::string_view v) { return Raw(key, JsonString(v)); }
  JsonObject& Add(std::string_view key, const char* v) { return Raw(key, JsonString(v)); }
  JsonObject& Add(std::string_view key, const std::string& v) { return Raw(key, JsonString(v)); }
  JsonObject& Add(std::string_view key, bool v) { return Raw(key, v ? "true" : "false"); }
  JsonObject& Add(std::string_view key, int v) { return Raw(key, std::to_string(v)); }
  JsonObject& Add(std::string_view key, uint32_t v) { return Raw(key, std::to_string(v)); }
  JsonObject& Add(std::string_view key, int64_t v) { return Raw(key, std::to_string(v)); }
  JsonObject& Add(std::string_view key, uint64_t v) { return Raw(key, std::to_string(v)); }
  // Non-finite numbers have no JSON spelling; they become null.
  JsonObject& Add(std::string_view key, double v) {
    if (!std::isfinite(v)) return Raw(key, "null");
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return Raw(key, buf);
  }
  // `json` must already be valid JSON (a nested object or array).
  JsonObject& Raw(std::string_view key, std::string_view json) {
    body_ += body_.empty() ? "" : ", ";
    body_ += JsonString(key);
    body_ += ": ";
    body_ += json;
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

}  // namespace pccheck
