// libpccheck's offline reader through the C ABI (pccheck_checkpoint_*),
// reading the store of a pccheckd that keeps running beside it.
#include <cstring>
#include <string>
#include <vector>

#include "catch.h"
#include "pccheck.h"
#include "support/daemon.h"

namespace pccheck {
namespace {

using testing::Daemon;

bool Contains(const char* s, const std::string& part) {
  return s != nullptr && std::string(s).find(part) != std::string::npos;
}

// Saves steps 1..3 of job "offline" through the C ABI: tensor "w" (float32
// [4, 1024], every byte = step) and "s" (int64 scalar = step), blob "b<step>".
void SaveThree(const Daemon& daemon) {
  char* err = nullptr;
  pccheck_client* c = nullptr;
  REQUIRE(pccheck_connect(daemon.socket().c_str(), "offline", 0, &c, &err) == PCCHECK_OK);
  void* mem = nullptr;
  REQUIRE(pccheck_alloc_shared(c, 16384 + 8, &mem, &err) == PCCHECK_OK);
  auto* bytes = static_cast<uint8_t*>(mem);
  const char* names[] = {"w", "s"};
  const char* dtypes[] = {"float32", "int64"};
  const int64_t w_shape[] = {4, 1024};
  const int64_t* shapes[] = {w_shape, nullptr};
  const uint32_t ndims[] = {2, 0};
  void* data[] = {bytes, bytes + 16384};
  const uint64_t sizes[] = {16384, 8};
  REQUIRE(pccheck_register(c, 2, names, dtypes, shapes, ndims, data, sizes, &err) == PCCHECK_OK);
  for (int64_t step = 1; step <= 3; ++step) {
    REQUIRE(pccheck_before_update(c, -1, &err) == PCCHECK_OK);
    std::memset(bytes, static_cast<int>(step), 16384);
    std::memcpy(bytes + 16384, &step, 8);
    const std::string blob = "b" + std::to_string(step);
    uint64_t ticket = 0;
    REQUIRE(pccheck_save(c, step, blob.data(), blob.size(), &ticket, &err) == PCCHECK_OK);
    REQUIRE(pccheck_wait(c, ticket, -1, &err) == PCCHECK_OK);
  }
  pccheck_free(err);
  pccheck_close(c);
}

// Opens `step` and checks it holds what SaveThree saved at `expect`.
void CheckOpen(const Daemon& daemon, int64_t step, uint64_t expect) {
  char* err = nullptr;
  pccheck_checkpoint* k = nullptr;
  const int code = pccheck_checkpoint_open(daemon.root().c_str(), "offline", 0, step, &k, &err);
  INFO((err ? err : ""));
  REQUIRE(code == PCCHECK_OK);
  CHECK(pccheck_checkpoint_step(k) == expect);
  REQUIRE(pccheck_checkpoint_tensor_count(k) == 2);
  const char *name = nullptr, *dtype = nullptr;
  const int64_t* shape = nullptr;
  uint32_t ndims = 9;
  const void* data = nullptr;
  uint64_t bytes = 0;
  REQUIRE(pccheck_checkpoint_tensor(k, 0, &name, &dtype, &shape, &ndims, &data, &bytes) ==
          PCCHECK_OK);
  CHECK(std::string(name) == "w");
  CHECK(std::string(dtype) == "float32");
  REQUIRE(ndims == 2);
  CHECK(std::vector<int64_t>(shape, shape + 2) == std::vector<int64_t>{4, 1024});
  REQUIRE(bytes == 16384);
  CHECK(std::vector<uint8_t>(static_cast<const uint8_t*>(data),
                             static_cast<const uint8_t*>(data) + bytes) ==
        std::vector<uint8_t>(16384, static_cast<uint8_t>(expect)));
  REQUIRE(pccheck_checkpoint_tensor(k, 1, &name, &dtype, &shape, &ndims, &data, &bytes) ==
          PCCHECK_OK);
  CHECK(ndims == 0);
  int64_t s = 0;
  REQUIRE(bytes == 8);
  std::memcpy(&s, data, 8);
  CHECK(s == static_cast<int64_t>(expect));
  CHECK(pccheck_checkpoint_tensor(k, 2, &name, &dtype, &shape, &ndims, &data, &bytes) ==
        PCCHECK_EINVAL);
  const void* blob = nullptr;
  size_t len = 0;
  pccheck_checkpoint_blob(k, &blob, &len);
  CHECK(std::string(static_cast<const char*>(blob), len) == "b" + std::to_string(expect));
  pccheck_checkpoint_close(k);
  pccheck_free(err);
}

TEST_CASE("the C ABI reads checkpoints beside a running daemon", "[client][c]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  SaveThree(daemon);
  CheckOpen(daemon, -1, 3);
  CheckOpen(daemon, 2, 2);
  CheckOpen(daemon, 1, 1);
}

TEST_CASE("the C ABI's reader reports codes and messages naming the fix", "[client][c]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  SaveThree(daemon);
  char* err = nullptr;
  pccheck_checkpoint* k = nullptr;
  CHECK(pccheck_checkpoint_open(daemon.root().c_str(), "offline", 0, 99, &k, &err) ==
        PCCHECK_ENOTFOUND);
  CHECK(k == nullptr);
  CHECK(Contains(err, "steps there: 1, 2, 3 (latest)"));
  const std::string missing = daemon.root() + "/missing";
  CHECK(pccheck_checkpoint_open(missing.c_str(), "offline", 0, -1, &k, &err) == PCCHECK_ENOTFOUND);
  CHECK(Contains(err, missing));
  CHECK(pccheck_checkpoint_open(daemon.root().c_str(), "other", 0, -1, &k, &err) ==
        PCCHECK_ENOTFOUND);
  CHECK(Contains(err, "the store holds job offline (rank 0)"));
  CHECK(pccheck_checkpoint_open(daemon.root().c_str(), "../x", 0, -1, &k, &err) == PCCHECK_EINVAL);
  CHECK(pccheck_checkpoint_open(nullptr, "offline", 0, -1, &k, &err) == PCCHECK_EINVAL);
  CHECK(pccheck_checkpoint_open(daemon.root().c_str(), "offline", 0, -1, nullptr, &err) ==
        PCCHECK_EINVAL);
  CHECK(pccheck_checkpoint_tensor(nullptr, 0, nullptr, nullptr, nullptr, nullptr, nullptr,
                                  nullptr) == PCCHECK_EINVAL);
  CHECK(pccheck_checkpoint_tensor_count(nullptr) == 0);
  pccheck_checkpoint_close(nullptr);
  pccheck_free(err);
}

}  // namespace
}  // namespace pccheck
