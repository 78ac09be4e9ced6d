#include "cli/safetensors.h"

#include "base/json.h"

namespace pccheck::cli {

namespace {

struct DtypeCode {
  const char* name;  // pccheck's (torch's) name
  const char* code;  // safetensors'
  uint64_t size;
};

// complex64/complex128 are missing on purpose: most safetensors readers have
// no code for them; `export --format raw` keeps them.
constexpr DtypeCode kDtypes[] = {
    {"float64", "F64", 8},
    {"float32", "F32", 4},
    {"float16", "F16", 2},
    {"bfloat16", "BF16", 2},
    {"float8_e4m3fn", "F8_E4M3", 1},
    {"float8_e5m2", "F8_E5M2", 1},
    {"int64", "I64", 8},
    {"int32", "I32", 4},
    {"int16", "I16", 2},
    {"int8", "I8", 1},
    {"uint64", "U64", 8},
    {"uint32", "U32", 4},
    {"uint16", "U16", 2},
    {"uint8", "U8", 1},
    {"bool", "BOOL", 1},
};

const DtypeCode* Find(const std::string& dtype) {
  for (const auto& d : kDtypes) {
    if (dtype == d.name) return &d;
  }
  return nullptr;
}

// Strict UTF-8 (no overlong forms, no surrogates), as serde_json and
// Python's json module require of a header.
bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;                        // continuation bytes
    unsigned char lo = 0x80, hi = 0xBF;  // range of the first continuation byte
    if (c < 0x80) {
      n = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (n > s.size() - i - 1) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string Label(const TensorEntry& t) { return "tensor '" + t.name + "'"; }

// The tensor's element count times its item size must be its byte size.
Status CheckSize(const TensorEntry& t, uint64_t item) {
  uint64_t bytes = item;
  for (int64_t d : t.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      return Status::InvalidArgument(Label(t) + " has a shape too large to address");
    }
  }
  if (bytes == t.bytes) return Status::Ok();
  return Status::InvalidArgument(Label(t) + " holds " + std::to_string(t.bytes) +
                                 " bytes, but dtype " + t.dtype + " and shape " +
                                 JsonShape(t.shape) + " make " + std::to_string(bytes) +
                                 "; safetensors needs them to agree: export --format raw keeps "
                                 "the bytes as they are");
}

std::string TensorJson(const std::string& code, const TensorEntry& t, uint64_t begin) {
  const std::string offsets =
      "[" + std::to_string(begin) + "," + std::to_string(begin + t.bytes) + "]";
  return JsonString(t.name) + ":" +
         JsonObject()
             .Add("dtype", code)
             .Raw("shape", JsonShape(t.shape))
             .Raw("data_offsets", offsets)
             .str();
}

}  // namespace

Result<std::string> SafetensorsDtype(const std::string& dtype) {
  if (const DtypeCode* d = Find(dtype)) return std::string(d->code);
  std::string known;
  for (const auto& d : kDtypes) known += std::string(known.empty() ? "" : ", ") + d.name;
  return Status::InvalidArgument("dtype '" + dtype + "' has no safetensors code (it has: " + known +
                                 "); export --format raw keeps every dtype");
}

uint64_t DtypeItemSize(const std::string& dtype) {
  const DtypeCode* d = Find(dtype);
  return d == nullptr ? 0 : d->size;
}

Result<SafetensorsLayout> PlanSafetensors(const Manifest& m,
                                          const std::map<std::string, std::string>& metadata,
                                          uint64_t max_header) {
  std::string json = "{";
  std::vector<uint64_t> begins;
  uint64_t data_bytes = 0;
  for (const TensorEntry& t : m.tensors) {
    auto code = SafetensorsDtype(t.dtype);
    if (!code.ok()) return code.status().Annotate(Label(t));
    PCC_RETURN_IF_ERROR(CheckSize(t, DtypeItemSize(t.dtype)));
    if (!ValidUtf8(t.name) || t.name == "__metadata__") {
      return Status::InvalidArgument(Label(t) +
                                     " cannot be a safetensors name (not UTF-8, or reserved); "
                                     "export --format raw keeps any name");
    }
    json += TensorJson(code.value(), t, data_bytes) + ",";
    begins.push_back(data_bytes);
    data_bytes += t.bytes;
  }
  JsonObject meta;
  for (const auto& [key, value] : metadata) meta.Add(key, value);
  json += "\"__metadata__\":" + meta.str() + "}";
  json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  if (json.size() > max_header) {
    return Status::InvalidArgument(
        "the safetensors header would be " + std::to_string(json.size()) +
        " bytes, more than readers accept (" + std::to_string(max_header) + "); the user blob of " +
        std::to_string(m.user_blob.size()) +
        " bytes makes most of it: export --format raw has no such limit");
  }
  SafetensorsLayout out;
  for (int i = 0; i < 8; ++i) out.header += static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  out.header += json;
  for (uint64_t b : begins) out.file_offset.push_back(out.header.size() + b);
  out.file_bytes = out.header.size() + data_bytes;
  return out;
}

}  // namespace pccheck::cli
