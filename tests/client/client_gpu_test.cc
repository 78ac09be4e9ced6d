// libpccheck's GPU calls on a machine where they cannot work (no GPU, no
// driver, or a library built without CUDA) and with host-only tables: the
// errors say why, and nothing that worked before breaks.
#include <cstring>
#include <vector>

#include "catch.h"
#include "pccheck.h"
#include "pccheck/client.h"
#include "support/daemon.h"

namespace pccheck {
namespace {

using testing::Daemon;

bool Contains(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

TEST_CASE("gpu api: host-only tables go through RegisterDevices like Register", "[client][gpu]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  auto c = Client::Connect({daemon.socket(), "job", 0});
  REQUIRE(c.ok());
  std::vector<uint8_t> w(64 * 1024, 7);
  REQUIRE((*c)->RegisterDevices({{{"w", "uint8", {65536}, w.data(), w.size()}, -1}}).ok());
  auto t = (*c)->Save(1);
  REQUIRE(t.ok());
  REQUIRE((*c)->Wait(*t).ok());
  std::fill(w.begin(), w.end(), 0);
  auto r = (*c)->Restore();
  REQUIRE(r.ok());
  CHECK(w == std::vector<uint8_t>(64 * 1024, 7));
}

TEST_CASE("gpu api: a GPU tensor that cannot be shared is refused; the old table stays",
          "[client][gpu]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  auto c = Client::Connect({daemon.socket(), "job", 0});
  REQUIRE(c.ok());
  std::vector<uint8_t> w(4096, 1);
  REQUIRE((*c)->Register({{"w", "uint8", {4096}, w.data(), w.size()}}).ok());
  // Host memory said to be on device 0: no GPU here, a library without CUDA,
  // or (on a GPU machine) memory that is not device memory.
  std::vector<uint8_t> fake(4096);
  Status s = (*c)->RegisterDevices({{{"gpu.w", "float32", {1024}, fake.data(), 4096}, 0}});
  INFO(s.ToString());
  REQUIRE_FALSE(s.ok());
  CHECK((s.code() == Code::kUnavailable || s.code() == Code::kInvalidArgument));
  CHECK((Contains(s.message(), "CUDA") || Contains(s.message(), "gpu.w")));
  auto t = (*c)->Save(2);
  REQUIRE(t.ok());
  CHECK((*c)->Wait(*t).ok());
  CHECK((*c)->BeforeUpdateStream(nullptr).code() != Code::kInternal);
}

TEST_CASE("gpu api: the C functions check their arguments", "[client][gpu]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  pccheck_client* c = nullptr;
  char* err = nullptr;
  REQUIRE(pccheck_connect(daemon.socket().c_str(), "job", 0, &c, &err) == PCCHECK_OK);
  const char* names[] = {"w"};
  const char* dtypes[] = {"uint8"};
  const int64_t shape[] = {16};
  const int64_t* shapes[] = {shape};
  const uint32_t ndims[] = {1};
  uint8_t data[16] = {};
  void* ptrs[] = {data};
  const uint64_t bytes[] = {16};
  CHECK(pccheck_register_devices(c, 1, names, dtypes, shapes, ndims, ptrs, bytes, nullptr, 0,
                                 &err) == PCCHECK_EINVAL);
  REQUIRE(err != nullptr);
  CHECK(Contains(err, "devices is NULL"));
  const int32_t host[] = {-1};
  CHECK(pccheck_register_devices(c, 1, names, dtypes, shapes, ndims, ptrs, bytes, host, 0, &err) ==
        PCCHECK_OK);
  CHECK(pccheck_save_on_stream(nullptr, 1, nullptr, 0, nullptr, nullptr, &err) == PCCHECK_EINVAL);
  CHECK(pccheck_before_update_stream(nullptr, nullptr, 0, &err) == PCCHECK_EINVAL);
  pccheck_free(err);
  pccheck_close(c);
}

}  // namespace
}  // namespace pccheck
