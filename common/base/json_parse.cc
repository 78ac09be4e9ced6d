#include "base/json_parse.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace pccheck {

// ---- JsonValue ------------------------------------------------------------------

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Number(std::string literal) {
  JsonValue v;
  v.type_ = Type::kNumber;
  v.text_ = std::move(literal);
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.type_ = Type::kString;
  v.text_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.type_ = Type::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object(std::vector<Member> members) {
  JsonValue v;
  v.type_ = Type::kObject;
  v.members_ = std::move(members);
  return v;
}

bool JsonValue::AsBool(bool fallback) const { return type_ == Type::kBool ? bool_ : fallback; }

double JsonValue::AsDouble(double fallback) const {
  if (type_ != Type::kNumber) return fallback;
  // strtod, not from_chars: libstdc++ 12 has no floating-point from_chars on
  // every platform we build on. The literal was validated, so this reads it all.
  return std::strtod(text_.c_str(), nullptr);
}

uint64_t JsonValue::AsUint(uint64_t fallback) const {
  if (type_ != Type::kNumber || text_.empty() || text_[0] == '-') return fallback;
  uint64_t v = 0;
  const char* end = text_.data() + text_.size();
  auto [p, ec] = std::from_chars(text_.data(), end, v);
  if (ec == std::errc() && p == end) return v;
  const double d = AsDouble();
  if (!(d >= 0) || d >= 18446744073709551616.0) return fallback;
  return static_cast<uint64_t>(d);
}

int64_t JsonValue::AsInt(int64_t fallback) const {
  if (type_ != Type::kNumber) return fallback;
  int64_t v = 0;
  const char* end = text_.data() + text_.size();
  auto [p, ec] = std::from_chars(text_.data(), end, v);
  if (ec == std::errc() && p == end) return v;
  const double d = AsDouble();
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return fallback;
  return static_cast<int64_t>(d);
}

const std::string& JsonValue::AsString() const {
  static const std::string kEmpty;
  return type_ == Type::kString ? text_ : kEmpty;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& [k, v] : members_) {
    if (k == key) return &v;
  }
  return nullptr;
}

const JsonValue& JsonValue::operator[](std::string_view key) const {
  static const JsonValue kNull;
  const JsonValue* v = Find(key);
  return v != nullptr ? *v : kNull;
}

// ---- the parser -------------------------------------------------------------------

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<JsonValue> Document() {
    JsonValue v;
    PCC_RETURN_IF_ERROR(Value(0, &v));
    SkipSpace();
    if (i_ != s_.size()) return Fail("end of the document");
    return v;
  }

 private:
  Status Fail(const std::string& expected) const {
    std::string found = i_ < s_.size() ? "'" + std::string(1, s_[i_]) + "'" : "the end";
    if (i_ < s_.size() && static_cast<unsigned char>(s_[i_]) < 0x20) {
      found = "byte " + std::to_string(static_cast<unsigned>(s_[i_]));
    }
    return Status::InvalidArgument("JSON: expected " + expected + " at byte " + std::to_string(i_) +
                                   ", found " + found);
  }

  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }

  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  bool EatWord(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  Status Value(int depth, JsonValue* out) {
    if (depth > kMaxJsonDepth) {
      return Status::InvalidArgument("JSON: nested deeper than " + std::to_string(kMaxJsonDepth) +
                                     " levels at byte " + std::to_string(i_));
    }
    SkipSpace();
    if (i_ >= s_.size()) return Fail("a value");
    const char c = s_[i_];
    if (c == '{') return ObjectValue(depth, out);
    if (c == '[') return ArrayValue(depth, out);
    if (c == '"') {
      std::string str;
      PCC_RETURN_IF_ERROR(StringValue(&str));
      *out = JsonValue::String(std::move(str));
      return Status::Ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return NumberValue(out);
    if (EatWord("true")) {
      *out = JsonValue::Bool(true);
    } else if (EatWord("false")) {
      *out = JsonValue::Bool(false);
    } else if (EatWord("null")) {
      *out = JsonValue();
    } else {
      return Fail("a value");
    }
    return Status::Ok();
  }

  Status ObjectValue(int depth, JsonValue* out) {
    ++i_;  // '{'
    std::vector<JsonValue::Member> members;
    SkipSpace();
    if (!Eat('}')) {
      for (;;) {
        SkipSpace();
        if (i_ >= s_.size() || s_[i_] != '"') return Fail("a member name (a string)");
        std::string key;
        PCC_RETURN_IF_ERROR(StringValue(&key));
        SkipSpace();
        if (!Eat(':')) return Fail("':'");
        JsonValue v;
        PCC_RETURN_IF_ERROR(Value(depth + 1, &v));
        members.emplace_back(std::move(key), std::move(v));
        SkipSpace();
        if (Eat('}')) break;
        if (!Eat(',')) return Fail("',' or '}'");
      }
    }
    *out = JsonValue::Object(std::move(members));
    return Status::Ok();
  }

  Status ArrayValue(int depth, JsonValue* out) {
    ++i_;  // '['
    std::vector<JsonValue> items;
    SkipSpace();
    if (!Eat(']')) {
      for (;;) {
        JsonValue v;
        PCC_RETURN_IF_ERROR(Value(depth + 1, &v));
        items.push_back(std::move(v));
        SkipSpace();
        if (Eat(']')) break;
        if (!Eat(',')) return Fail("',' or ']'");
      }
    }
    *out = JsonValue::Array(std::move(items));
    return Status::Ok();
  }

  bool Digits() {
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }

  Status NumberValue(JsonValue* out) {
    const size_t start = i_;
    Eat('-');
    if (Eat('0')) {
      if (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
        return Fail("no digits after a leading 0");
    } else if (!Digits()) {
      return Fail("a digit");
    }
    if (Eat('.') && !Digits()) return Fail("a digit after '.'");
    if (Eat('e') || Eat('E')) {
      if (!Eat('+')) Eat('-');
      if (!Digits()) return Fail("a digit in the exponent");
    }
    *out = JsonValue::Number(std::string(s_.substr(start, i_ - start)));
    return Status::Ok();
  }

  Status Hex4(uint32_t* out) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k, ++i_) {
      if (i_ >= s_.size()) return Fail("4 hex digits after \\u");
      const char c = s_[i_];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("4 hex digits after \\u");
      }
    }
    *out = v;
    return Status::Ok();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Status Escape(std::string* out) {
    if (i_ >= s_.size()) return Fail("an escape");
    const char c = s_[i_++];
    switch (c) {
      case '"':
        out->push_back('"');
        return Status::Ok();
      case '\\':
        out->push_back('\\');
        return Status::Ok();
      case '/':
        out->push_back('/');
        return Status::Ok();
      case 'b':
        out->push_back('\b');
        return Status::Ok();
      case 'f':
        out->push_back('\f');
        return Status::Ok();
      case 'n':
        out->push_back('\n');
        return Status::Ok();
      case 'r':
        out->push_back('\r');
        return Status::Ok();
      case 't':
        out->push_back('\t');
        return Status::Ok();
      case 'u':
        break;
      default:
        --i_;
        return Fail("one of \"\\/bfnrtu after '\\'");
    }
    uint32_t cp = 0;
    PCC_RETURN_IF_ERROR(Hex4(&cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("a high surrogate before a low one");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (!EatWord("\\u")) return Fail("the low surrogate (\\uDC00-\\uDFFF) of a pair");
      uint32_t low = 0;
      PCC_RETURN_IF_ERROR(Hex4(&low));
      if (low < 0xDC00 || low > 0xDFFF) return Fail("a low surrogate (\\uDC00-\\uDFFF)");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(cp, out);
    return Status::Ok();
  }

  // Bytes >= 0x80 pass through: UTF-8 in, UTF-8 out.
  Status StringValue(std::string* out) {
    ++i_;  // '"'
    for (;;) {
      if (i_ >= s_.size()) return Fail("'\"' closing the string");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return Status::Ok();
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("an escaped control character");
      ++i_;
      if (c == '\\') {
        PCC_RETURN_IF_ERROR(Escape(out));
      } else {
        out->push_back(c);
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

Result<JsonValue> ParseJson(std::string_view text) { return Parser(text).Document(); }

}  // namespace pccheck
