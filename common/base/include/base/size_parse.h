// Byte sizes as people type and read them: "64M", "1.5 GiB".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace pccheck {

// Parses a byte count: plain digits ("4096"), or digits followed by a unit
// K, M, G or T (any case), optionally followed by "iB" or "B". Every unit is a
// power of 1024: "64M" == "64MiB" == "64MB" == 64 * 2^20. Surrounding spaces
// and one space between number and unit are accepted. Fails with
// InvalidArgument naming the text and the accepted forms on anything else:
// empty text, a sign, a fraction, an unknown unit, or a value above 2^64 - 1.
Result<uint64_t> ParseSize(std::string_view text);

// The accepted forms, for help texts and error messages.
const char* SizeForms();

// A short human-readable size with binary units: "512 B", "64 MiB", "1.5 GiB".
// Exact multiples print without a fraction; others with up to two decimals.
std::string FormatSize(uint64_t bytes);

}  // namespace pccheck
