#include "base/size_parse.h"

#include <string>

#include "catch.h"

namespace pccheck {
namespace {

uint64_t Parsed(const std::string& text) {
  auto r = ParseSize(text);
  INFO(text << ": " << r.status().ToString());
  REQUIRE(r.ok());
  return r.value();
}

void RequireRejected(const std::string& text) {
  auto r = ParseSize(text);
  INFO("'" << text << "' should be rejected");
  REQUIRE(!r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  // The message names the bad text and the accepted forms.
  CHECK(r.status().message().find("'" + text + "'") != std::string::npos);
  CHECK(r.status().message().find("64M") != std::string::npos);
}

TEST_CASE("ParseSize accepts plain byte counts") {
  CHECK(Parsed("0") == 0);
  CHECK(Parsed("4096") == 4096);
  CHECK(Parsed("4096B") == 4096);
  CHECK(Parsed(" 17 ") == 17);
  CHECK(Parsed("18446744073709551615") == UINT64_MAX);
}

TEST_CASE("ParseSize units are powers of 1024 with optional iB or B") {
  CHECK(Parsed("1K") == 1024);
  CHECK(Parsed("1k") == 1024);
  CHECK(Parsed("64M") == (64ull << 20));
  CHECK(Parsed("64MiB") == (64ull << 20));
  CHECK(Parsed("64MB") == (64ull << 20));
  CHECK(Parsed("64m") == (64ull << 20));
  CHECK(Parsed("64 MiB") == (64ull << 20));
  CHECK(Parsed("3G") == (3ull << 30));
  CHECK(Parsed("3gib") == (3ull << 30));
  CHECK(Parsed("2T") == (2ull << 40));
  CHECK(Parsed("16777215T") == (16777215ull << 40));
}

TEST_CASE("ParseSize rejects garbage, signs, fractions and overflow") {
  RequireRejected("");
  RequireRejected("M");
  RequireRejected("abc");
  RequireRejected("-1");
  RequireRejected("-64M");
  RequireRejected("+5");
  RequireRejected("1.5G");
  RequireRejected("12X");
  RequireRejected("12KiBs");
  RequireRejected("12 K B");
  RequireRejected("12Bi");
  RequireRejected("0x100");
  RequireRejected("18446744073709551616");
  RequireRejected("16777216T");
  RequireRejected("99999999999999999999999G");
}

TEST_CASE("FormatSize picks the largest binary unit") {
  CHECK(FormatSize(0) == "0 B");
  CHECK(FormatSize(1023) == "1023 B");
  CHECK(FormatSize(1024) == "1 KiB");
  CHECK(FormatSize(64ull << 20) == "64 MiB");
  CHECK(FormatSize(3ull << 29) == "1.5 GiB");
  CHECK(FormatSize((1ull << 30) + (1ull << 30) / 4) == "1.25 GiB");
  CHECK(FormatSize(2ull << 40) == "2 TiB");
  CHECK(FormatSize(UINT64_MAX) == "16 EiB");
}

TEST_CASE("FormatSize output of an exact size parses back") {
  for (uint64_t v : {uint64_t{512}, uint64_t{8} << 10, uint64_t{64} << 20, uint64_t{5} << 40}) {
    std::string s = FormatSize(v);
    INFO(s);
    CHECK(Parsed(s) == v);
  }
}

}  // namespace
}  // namespace pccheck
