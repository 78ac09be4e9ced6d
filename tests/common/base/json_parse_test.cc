// The JSON module's reader (common/base/json_parse.h): what it accepts, what it
// refuses, and that it reads back what json.h writes.
#include "base/json_parse.h"

#include <string>

#include "base/json.h"
#include "catch.h"

namespace pccheck::cli {
namespace {

JsonValue Parse(const std::string& text) {
  auto v = ParseJson(text);
  INFO(text);
  REQUIRE(v.status().ToString() == "Ok");
  return v.value();
}

TEST_CASE("json: scalars", "[json]") {
  CHECK(Parse("null").is_null());
  CHECK(Parse("true").AsBool());
  CHECK_FALSE(Parse(" false ").AsBool(true));
  CHECK(Parse("0").AsUint() == 0);
  CHECK(Parse("-12").AsInt() == -12);
  CHECK(Parse("18446744073709551615").AsUint() == 18446744073709551615ull);
  CHECK(Parse("9007199254740993").AsUint() == 9007199254740993ull);  // above 2^53: exact
  CHECK(Parse("1.5e3").AsDouble() == 1500.0);
  CHECK(Parse("2.75").AsUint() == 2);
  CHECK(Parse("-2").AsUint(7) == 7);  // negative: the fallback
  CHECK(Parse("\"hi\"").AsString() == "hi");
  CHECK(Parse("\"hi\"").AsUint(3) == 3);  // not a number: the fallback
  CHECK(Parse("1").AsString().empty());
}

TEST_CASE("json: string escapes, UTF-8 and surrogate pairs", "[json]") {
  CHECK(Parse(R"("a\"b\\c\/d\b\f\n\r\t")").AsString() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(Parse(R"("\u0041\u00e9\u20ac")").AsString() == "A\xc3\xa9\xe2\x82\xac");
  CHECK(Parse(R"("\ud83d\ude00")").AsString() == "\xf0\x9f\x98\x80");
  CHECK(Parse("\"caf\xc3\xa9\"").AsString() == "caf\xc3\xa9");
}

TEST_CASE("json: objects and arrays, nested", "[json]") {
  JsonValue v = Parse(R"({"a": [1, {"b": "x"}, []], "c": {}, "d": null, "a": 2})");
  REQUIRE(v.is_object());
  REQUIRE(v.members().size() == 4);
  CHECK(v.members()[0].first == "a");
  REQUIRE(v["a"].items().size() == 3);  // the first "a"
  CHECK(v["a"].items()[0].AsUint() == 1);
  CHECK(v["a"].items()[1]["b"].AsString() == "x");
  CHECK(v["a"].items()[2].is_array());
  CHECK(v["c"].is_object());
  CHECK(v.Find("d") != nullptr);
  CHECK(v["d"].is_null());
  CHECK(v.Find("zz") == nullptr);
  CHECK(v["zz"]["deeper"].is_null());  // absent all the way down, no crash
  CHECK(v["a"]["not an object"].is_null());
}

TEST_CASE("json: reads back what the CLI's writer writes", "[json]") {
  const std::string tricky = std::string("quote\" back\\ nl\n ctl\x01 ") + "\xe2\x82\xac";
  JsonObject o;
  o.Add("s", tricky)
      .Add("n", uint64_t{1} << 60)
      .Add("neg", int64_t{-5})
      .Add("d", 0.25)
      .Add("b", true)
      .Raw("arr", "[1, 2]");
  JsonValue v = Parse(o.str());
  CHECK(v["s"].AsString() == tricky);
  CHECK(v["n"].AsUint() == (uint64_t{1} << 60));
  CHECK(v["neg"].AsInt() == -5);
  CHECK(v["d"].AsDouble() == 0.25);
  CHECK(v["b"].AsBool());
  CHECK(v["arr"].items().size() == 2);
}

TEST_CASE("json: arrays built item by item read back, with any separator", "[json]") {
  CHECK(JsonArray().str() == "[]");
  JsonArray a(",\n ");
  a.Add("x").Add(uint64_t{7}).Add(int64_t{-2}).Raw(JsonObject().Add("k", 1).str());
  CHECK(a.str() == "[\"x\",\n 7,\n -2,\n {\"k\": 1}]");
  JsonValue v = Parse(a.str());
  REQUIRE(v.items().size() == 4);
  CHECK(v.items()[0].AsString() == "x");
  CHECK(v.items()[1].AsUint() == 7);
  CHECK(v.items()[2].AsInt() == -2);
  CHECK(v.items()[3]["k"].AsInt() == 1);
}

TEST_CASE("json: malformed input is refused naming the byte offset", "[json]") {
  for (const char* bad :
       {"",      " ",     "{",        "[1,]",      "{\"a\":1,}",  "{\"a\" 1}",   "{a:1}",
        "01",    "1.",    "-",        "1e",        "+1",          ".5",          "tru",
        "nul",   "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\ud83d\"", "\"\\ude00\"", "\"tab\there\"",
        "[1] 2", "{} x",  "'single'", "[1 2]",     "NaN",         "Infinity"}) {
    auto v = ParseJson(bad);
    INFO("input: " << bad);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().code() == Code::kInvalidArgument);
    CHECK(v.status().message().find("at byte") != std::string::npos);
  }
}

TEST_CASE("json: nesting is bounded", "[json]") {
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  CHECK(ParseJson(ok).ok());
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto v = ParseJson(deep);
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().message().find("nested deeper") != std::string::npos);
}

}  // namespace
}  // namespace pccheck::cli
