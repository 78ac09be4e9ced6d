// The safetensors layout alone (cli/safetensors.h): dtype codes, offsets and
// padding, and what it refuses. The end-to-end check is export_test.cc.
#include "cli/safetensors.h"

#include "base/json_parse.h"
#include "catch.h"

namespace pccheck::cli {
namespace {

Manifest WithTensors(std::vector<TensorEntry> tensors) {
  Manifest m{.job = std::string("j"), .step = 5};
  for (auto& t : tensors) {
    t.offset = m.data_bytes + 3;  // gaps in the stream: safetensors packs them out
    m.data_bytes = t.offset + t.bytes;
  }
  m.tensors = std::move(tensors);
  return m;
}

TEST_CASE("every dtype of the Python package's table has its safetensors code", "[cli]") {
  const std::vector<std::pair<std::string, std::string>> codes = {{"float64", "F64"},
                                                                  {"float32", "F32"},
                                                                  {"float16", "F16"},
                                                                  {"bfloat16", "BF16"},
                                                                  {"float8_e4m3fn", "F8_E4M3"},
                                                                  {"float8_e5m2", "F8_E5M2"},
                                                                  {"int64", "I64"},
                                                                  {"int32", "I32"},
                                                                  {"int16", "I16"},
                                                                  {"int8", "I8"},
                                                                  {"uint64", "U64"},
                                                                  {"uint32", "U32"},
                                                                  {"uint16", "U16"},
                                                                  {"uint8", "U8"},
                                                                  {"bool", "BOOL"}};
  for (const auto& [dtype, code] : codes) {
    auto c = SafetensorsDtype(dtype);
    INFO(dtype);
    REQUIRE(c.ok());
    CHECK(c.value() == code);
  }
  for (const char* dtype : {"complex64", "complex128", "f32", ""}) {
    auto c = SafetensorsDtype(dtype);
    CHECK(c.status().code() == Code::kInvalidArgument);
    CHECK(c.status().message().find("--format raw") != std::string::npos);
  }
}

TEST_CASE("the layout packs tensors after a header padded to 8 bytes", "[cli]") {
  Manifest m = WithTensors({{"a", "float32", {2, 2}, 0, 16},
                            {"s", "int64", {}, 0, 8},
                            {"e", "bfloat16", {0, 3}, 0, 0},
                            {"b", "bool", {3}, 0, 3}});
  auto layout = PlanSafetensors(m, {{"step", "5"}});
  REQUIRE(layout.ok());
  const std::string& h = layout->header;
  REQUIRE(h.size() % 8 == 0);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(h[i]);
  CHECK(n == h.size() - 8);
  CHECK((h.back() == ' ' || h.back() == '}'));
  auto json = ParseJson(std::string_view(h).substr(8));
  REQUIRE(json.ok());
  CHECK((*json)["a"]["dtype"].AsString() == "F32");
  CHECK((*json)["s"]["shape"].items().empty());
  CHECK((*json)["b"]["data_offsets"].items()[0].AsUint() == 24);
  CHECK((*json)["b"]["data_offsets"].items()[1].AsUint() == 27);
  CHECK((*json)["__metadata__"]["step"].AsString() == "5");
  CHECK(layout->file_offset ==
        std::vector<uint64_t>{h.size(), h.size() + 16, h.size() + 24, h.size() + 24});
  CHECK(layout->file_bytes == h.size() + 27);
}

TEST_CASE("the layout refuses what safetensors cannot hold, naming the tensor", "[cli]") {
  SECTION("bytes that disagree with dtype and shape") {
    auto l = PlanSafetensors(WithTensors({{"w", "float32", {3}, 0, 8}}), {});
    CHECK(l.status().code() == Code::kInvalidArgument);
    CHECK(l.status().message().find("tensor 'w' holds 8 bytes, but dtype float32 and shape [3] "
                                    "make 12") != std::string::npos);
  }
  SECTION("a dtype without a code") {
    auto l = PlanSafetensors(WithTensors({{"z", "complex128", {1}, 0, 16}}), {});
    CHECK(l.status().message().find("tensor 'z'") != std::string::npos);
  }
  SECTION("a name that is not UTF-8, or the reserved one") {
    for (const std::string& name :
         {std::string("bad\xff"), std::string("\xed\xa0\x80"), std::string("__metadata__")}) {
      auto l = PlanSafetensors(WithTensors({{name, "uint8", {1}, 0, 1}}), {});
      CHECK(l.status().code() == Code::kInvalidArgument);
    }
    CHECK(PlanSafetensors(WithTensors({{"caf\xc3\xa9", "uint8", {1}, 0, 1}}), {}).ok());
  }
  SECTION("a header larger than readers accept") {
    Manifest m = WithTensors({});
    m.user_blob.assign(3000, 'x');
    auto l = PlanSafetensors(m, {{"user_blob_base64", std::string(4000, 'A')}}, 1000);
    CHECK(l.status().code() == Code::kInvalidArgument);
    CHECK(l.status().message().find("user blob") != std::string::npos);
  }
}

}  // namespace
}  // namespace pccheck::cli
