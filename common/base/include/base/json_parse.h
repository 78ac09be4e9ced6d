// The reader of pccheck's JSON module (the writer is base/json.h): the CLI
// reads pccheckd's status document with it to show it to people, the tests
// read every --json output. No dependency.
//
// ParseJson accepts RFC 8259 JSON (objects, arrays, strings with every escape
// including surrogate pairs, numbers, true, false, null) and nothing else:
// no comments, no trailing commas, no bytes after the value. Nesting deeper
// than kMaxJsonDepth is refused, so hostile input cannot exhaust the stack.
//
// A JsonValue is an immutable tree. The accessors never fail: asking an
// object for a key it lacks, or a string for a number, gives the fallback
// (a null value, 0, ""), so a viewer can read a document from a newer or
// older daemon without checking every step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace pccheck {

inline constexpr int kMaxJsonDepth = 128;

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;  // null
  static JsonValue Bool(bool b);
  // `literal` is the number as written ("-1.5e3"), kept so that integers
  // beyond 2^53 read back exactly.
  static JsonValue Number(std::string literal);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<Member> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }

  bool AsBool(bool fallback = false) const;
  double AsDouble(double fallback = 0) const;
  // Integers as written; a fraction or exponent is truncated; negative or
  // out-of-range values (and non-numbers) give the fallback.
  uint64_t AsUint(uint64_t fallback = 0) const;
  int64_t AsInt(int64_t fallback = 0) const;
  // The string's value (unescaped); "" for anything else.
  const std::string& AsString() const;

  // Arrays: the items; objects: the members in document order; else empty.
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<Member>& members() const { return members_; }
  // The member `key` of an object (the first, if repeated), else nullptr.
  const JsonValue* Find(std::string_view key) const;
  // Like Find, but a null value when absent: doc["config"]["root"].AsString().
  const JsonValue& operator[](std::string_view key) const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // kString: the value; kNumber: the literal
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

// Parses one JSON document. InvalidArgument naming the byte offset and what
// was expected there on malformed input.
Result<JsonValue> ParseJson(std::string_view text);

}  // namespace pccheck
