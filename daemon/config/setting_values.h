// The value types of pccheckd's settings as text: parsers that check one value
// alone and formatters that parseable text comes back from. The table
// (settings_table.cc) builds each row from these; the renderers use a few.
//
// Every parser returns InvalidArgument whose message names the bad text and
// what is accepted, but not the key (the caller prefixes it).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace pccheck::config {

std::string Trim(std::string_view s);
std::string Quoted(const std::string& s);

// A whole number in lo..hi.
Result<int64_t> ParseInteger(const std::string& text, int64_t lo, int64_t hi);
// A byte count (base/size_parse.h) in lo..hi, a multiple of `multiple`.
Result<uint64_t> ParseSizeIn(const std::string& text, uint64_t lo, uint64_t hi, uint64_t multiple);
// The shortest exact form that ParseSize reads back: "64MiB", "4GiB", "12345".
std::string ExactSize(uint64_t bytes);
// One of `choices`, exactly.
Result<std::string> ParseChoice(const std::string& text,
                                std::initializer_list<const char*> choices);
// true/false, yes/no, on/off, 1/0 (any case).
Result<bool> ParseBool(const std::string& text);
const char* FormatBool(bool v);
Result<std::string> ParseAbsolutePath(const std::string& text);
// A file mode in octal up to 0777 ("0660", "660", "0o660"); formatted "0660".
Result<uint32_t> ParseOctalMode(const std::string& text);
std::string FormatOctalMode(uint32_t mode);

// Items separated by commas or spaces; empty items are dropped.
std::vector<std::string> SplitList(const std::string& text);
// Users (names resolved with the password database, or numeric uids) and
// groups (the group database, or gids); duplicates dropped, order kept.
Result<std::vector<uint32_t>> ParseUsers(const std::string& text);
Result<std::vector<uint32_t>> ParseGroups(const std::string& text);
// "1000,1001"
std::string JoinIds(const std::vector<uint32_t>& ids);

}  // namespace pccheck::config
