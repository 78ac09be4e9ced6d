// The safetensors layout of a checkpoint, for `pccheck export --format
// safetensors` (docs/export.md). The format: an 8-byte little-endian header
// length N, N bytes of a JSON object
//   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//    ..., "__metadata__": {"<key>": "<string>", ...}}
// (padded with spaces to a multiple of 8), then the tensors' bytes, packed
// without gaps, data_offsets counted from the end of the header.
// Pure functions; nothing here touches a file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "proto/manifest.h"

namespace pccheck::cli {

// The safetensors dtype code of a pccheck dtype name (torch's names: float32,
// bfloat16, int64, bool, float8_e4m3fn, ...). InvalidArgument naming the dtype
// for one safetensors cannot express (complex64, complex128, free text).
Result<std::string> SafetensorsDtype(const std::string& dtype);

// Bytes per element of a pccheck dtype name that safetensors can express.
uint64_t DtypeItemSize(const std::string& dtype);

// Loaders refuse headers larger than this (safetensors' MAX_HEADER_SIZE).
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

struct SafetensorsLayout {
  std::string header;                 // the 8 length bytes and the padded JSON
  std::vector<uint64_t> file_offset;  // where tensor i's bytes go in the file
  uint64_t file_bytes = 0;            // the whole file's size
};

// Lays m's tensors out in table order. InvalidArgument, naming the tensor,
// when a dtype cannot be expressed, a byte size disagrees with dtype and
// shape, or a name is not valid UTF-8 (JSON keys must be); and when the
// header would exceed max_header bytes (a large user blob).
Result<SafetensorsLayout> PlanSafetensors(const Manifest& m,
                                          const std::map<std::string, std::string>& metadata,
                                          uint64_t max_header = kSafetensorsMaxHeader);

}  // namespace pccheck::cli
