// libpccheck against a real pccheckd in a child process: the save path, the
// errors a trainer sees, and what happens when the daemon hangs or dies.
#include "pccheck/client.h"

#include <algorithm>
#include <cstring>

#include "catch.h"
#include "pccheck.h"
#include "support/daemon.h"

namespace pccheck {
namespace {

using testing::Daemon;

uint32_t Value(uint64_t step, uint64_t which, uint64_t i) {
  uint64_t z = step * 0x9E3779B97F4A7C15ull + which * 0xD1B54A32D192ED03ull + i;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

// A trainer with one tensor in shared memory and one in its own memory
// (staged), whose values are a pure function of the step.
struct Trainer {
  static constexpr uint64_t kWeights = 256 * 1024, kBias = 1000;
  std::unique_ptr<Client> client;
  uint32_t* weights = nullptr;
  std::vector<uint32_t> bias = std::vector<uint32_t>(kBias);

  explicit Trainer(const std::string& socket, const std::string& job = "job") {
    auto c = Client::Connect({socket, job, 0});
    REQUIRE(c.status().ToString() == "Ok");
    client = std::move(c).value();
    auto mem = client->AllocateShared(kWeights * 4);
    REQUIRE(mem.ok());
    weights = static_cast<uint32_t*>(*mem);
    REQUIRE(client
                ->Register({{"weights", "uint32", {int64_t{kWeights}}, weights, kWeights * 4},
                            {"bias", "uint32", {int64_t{kBias}}, bias.data(), kBias * 4}})
                .ok());
  }
  void Set(uint64_t step) {
    for (uint64_t i = 0; i < kWeights; ++i) weights[i] = Value(step, 0, i);
    for (uint64_t i = 0; i < kBias; ++i) bias[i] = Value(step, 1, i);
  }
  bool Holds(uint64_t step) const {
    for (uint64_t i = 0; i < kWeights; ++i) {
      if (weights[i] != Value(step, 0, i)) return false;
    }
    for (uint64_t i = 0; i < kBias; ++i) {
      if (bias[i] != Value(step, 1, i)) return false;
    }
    return true;
  }
  void Scribble() {
    std::memset(weights, 0xAB, kWeights * 4);
    std::memset(bias.data(), 0xCD, kBias * 4);
  }
  uint64_t Save(uint64_t step) {
    REQUIRE(client->BeforeUpdate().ok());
    Set(step);
    auto t = client->Save(step, "blob " + std::to_string(step));
    REQUIRE(t.status().ToString() == "Ok");
    return *t;
  }
};

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_CASE("saves commit and restore both tensors bit for bit", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  Trainer t(daemon.socket());
  for (uint64_t step = 1; step <= 4; ++step) {
    uint64_t ticket = t.Save(step);
    CHECK(ticket == step);
  }
  // Newest wins: an older save still in flight when a newer one commits is
  // abandoned (kAborted, "superseded"); every other outcome is a failure.
  for (uint64_t step = 1; step <= 3; ++step) {
    Status s = t.client->Wait(step);
    INFO(s.ToString());
    CHECK((s.ok() || (s.code() == Code::kAborted && Contains(s.message(), "superseded"))));
  }
  REQUIRE(t.client->Wait(4).ToString() == "Ok");
  CHECK(t.client->Poll(4).value() == SaveState::kCommitted);
  auto latest = t.client->LatestStep();
  REQUIRE(latest.ok());
  CHECK(*latest == std::optional<uint64_t>(4));

  REQUIRE(t.client->BeforeUpdate().ok());
  t.Scribble();
  auto restored = t.client->Restore();
  REQUIRE(restored.status().ToString() == "Ok");
  CHECK(restored->step == 4);
  CHECK(restored->user_blob == "blob 4");
  CHECK(t.Holds(4));
}

TEST_CASE("a blob larger than the daemon's slot is refused naming both sizes", "[client]") {
  Daemon daemon({"--pool", "32MiB", "--blob-slot", "4KiB"});
  daemon.Start();
  Trainer t(daemon.socket());
  auto ticket = t.client->Save(1, std::string(5000, 'x'));
  REQUIRE(ticket.status().code() == Code::kInvalidArgument);
  CHECK(Contains(ticket.status().message(), "5000"));
  CHECK(Contains(ticket.status().message(), "4096"));
}

TEST_CASE("Save before Register is refused", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  auto c = Client::Connect({daemon.socket(), "job", 0});
  REQUIRE(c.ok());
  CHECK((*c)->Save(1).status().code() == Code::kInvalidArgument);
}

TEST_CASE("connecting without a daemon is Unavailable naming the socket", "[client]") {
  Daemon daemon({"--pool", "32MiB"});  // never started
  auto c = Client::Connect({daemon.socket(), "job", 0});
  REQUIRE(c.status().code() == Code::kUnavailable);
  CHECK(Contains(c.status().message(), daemon.socket()));
  CHECK(Contains(c.status().message(), "pccheckd --socket"));
}

TEST_CASE("waits on a hung daemon time out; the save commits once it resumes", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  Trainer t(daemon.socket());
  daemon.Pause();
  uint64_t ticket = t.Save(1);
  Status waited = t.client->Wait(ticket, 50);
  CHECK(waited.code() == Code::kTimeout);
  CHECK(waited.message().starts_with("timed out after 50 ms"));
  CHECK(t.client->BeforeUpdate(10).code() == Code::kTimeout);
  CHECK(t.client->WaitAll(10).code() == Code::kTimeout);
  CHECK(t.client->Poll(ticket).value() == SaveState::kPending);
  daemon.Resume();
  CHECK(t.client->Wait(ticket).ToString() == "Ok");
}

// A timeout is a code, not a message: context added on the way up keeps it.
TEST_CASE("a timed-out wait keeps the timeout code after Annotate", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  Trainer t(daemon.socket());
  daemon.Pause();
  const uint64_t ticket = t.Save(1);
  const Status waited = t.client->Wait(ticket, 20);
  REQUIRE(waited.code() == Code::kTimeout);
  const Status annotated = waited.Annotate("saving step 1").Annotate("epoch 0");
  CHECK(annotated.code() == Code::kTimeout);
  CHECK(annotated.message().starts_with("epoch 0: saving step 1: timed out after 20 ms"));
  CHECK(annotated.ToString().starts_with("Timeout: epoch 0"));
  daemon.Resume();
  CHECK(t.client->Wait(ticket).ToString() == "Ok");
}

TEST_CASE("daemon death fails the save in flight; the next call reconnects", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  Trainer t(daemon.socket());
  REQUIRE(t.client->Wait(t.Save(1)).ok());

  daemon.Pause();  // the next save stays in flight until the daemon dies
  uint64_t ticket = t.Save(2);
  daemon.Kill();
  Status waited = t.client->Wait(ticket);
  CHECK(waited.code() == Code::kUnavailable);
  CHECK(Contains(waited.message(), daemon.socket()));
  CHECK(t.client->Poll(ticket).value() == SaveState::kFailed);
  Status all = t.client->WaitAll();
  CHECK(all.code() == Code::kUnavailable);
  CHECK(Contains(all.message(), "went away during save of step 2"));
  CHECK_FALSE(t.client->connected());

  // No daemon: each call tries to reconnect once and fails fast.
  auto refused = t.client->Save(3);
  CHECK(refused.status().code() == Code::kUnavailable);
  CHECK(Contains(refused.status().message(), daemon.socket()));

  // Back on the same store: the arenas and the table are handed over again.
  daemon.Start();
  REQUIRE(t.client->Wait(t.Save(4)).ToString() == "Ok");
  CHECK(t.client->connected());
  t.Scribble();
  auto restored = t.client->Restore();
  REQUIRE(restored.status().ToString() == "Ok");
  CHECK(restored->step == 4);
  CHECK(t.Holds(4));
}

TEST_CASE("the first call after an unseen death reports it; the next reconnects", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  Trainer t(daemon.socket());
  REQUIRE(t.client->Wait(t.Save(1)).ok());
  daemon.Kill();
  daemon.Start();
  auto first = t.client->List();
  CHECK(first.status().code() == Code::kUnavailable);
  CHECK(Contains(first.status().message(), "not reachable"));
  auto second = t.client->List();
  REQUIRE(second.status().ToString() == "Ok");
  REQUIRE(second->size() == 1);
  CHECK((*second)[0].step == 1);
  CHECK((*second)[0].latest);
}

TEST_CASE("registering a larger staged tensor grows the staging area", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  Trainer t(daemon.socket());
  REQUIRE(t.client->Wait(t.Save(1)).ok());
  std::vector<uint8_t> big(3 << 20, 7);
  REQUIRE(t.client
              ->Register({{"weights",
                           "uint32",
                           {int64_t{Trainer::kWeights}},
                           t.weights,
                           Trainer::kWeights * 4},
                          {"big", "uint8", {int64_t(big.size())}, big.data(), big.size()}})
              .ok());
  auto ticket = t.client->Save(2);
  REQUIRE(ticket.ok());
  REQUIRE(t.client->Wait(*ticket).ok());
  std::fill(big.begin(), big.end(), 0);
  auto restored = t.client->Restore(2);
  REQUIRE(restored.status().ToString() == "Ok");
  CHECK(std::count(big.begin(), big.end(), 7) == static_cast<long>(big.size()));
}

TEST_CASE("status JSON with and without a session", "[client]") {
  Daemon daemon({"--pool", "32MiB"});
  daemon.Start();
  auto doc = QueryStatusJson(daemon.socket());
  REQUIRE(doc.ok());
  CHECK(doc->starts_with("{"));
  Trainer t(daemon.socket());
  auto mine = t.client->StatusJson();
  REQUIRE(mine.status().ToString() == "Ok");
  CHECK(mine->starts_with("{"));
  CHECK(t.client->Wait(t.Save(1)).ok());  // the session survived
}

TEST_CASE("the C ABI reports codes, messages and timeouts", "[client][c]") {
  Daemon daemon({"--pool", "32MiB"});
  char* err = nullptr;
  pccheck_client* c = nullptr;
  CHECK(pccheck_connect(daemon.socket().c_str(), "job", 0, &c, &err) == PCCHECK_EUNAVAILABLE);
  REQUIRE(err != nullptr);
  CHECK(Contains(err, daemon.socket()));

  daemon.Start();
  REQUIRE(pccheck_connect(daemon.socket().c_str(), "job", 0, &c, &err) == PCCHECK_OK);
  void* mem = nullptr;
  REQUIRE(pccheck_alloc_shared(c, 4096, &mem, &err) == PCCHECK_OK);
  const char* names[] = {"t"};
  const char* dtypes[] = {"uint8"};
  const int64_t shape[] = {4096};
  const int64_t* shapes[] = {shape};
  const uint32_t ndims[] = {1};
  void* data[] = {mem};
  const uint64_t bytes[] = {4096};
  REQUIRE(pccheck_register(c, 1, names, dtypes, shapes, ndims, data, bytes, &err) == PCCHECK_OK);
  std::memset(mem, 5, 4096);
  daemon.Pause();
  uint64_t ticket = 0;
  REQUIRE(pccheck_save(c, 9, "b", 1, &ticket, &err) == PCCHECK_OK);
  CHECK(pccheck_wait(c, ticket, 20, &err) == PCCHECK_ETIMEOUT);
  REQUIRE(err != nullptr);
  CHECK(std::string(err).starts_with("Timeout: timed out after 20 ms"));
  CHECK(pccheck_wait_all(c, 10, &err) == PCCHECK_ETIMEOUT);
  CHECK(pccheck_before_update(c, 10, &err) == PCCHECK_ETIMEOUT);
  daemon.Resume();
  CHECK(pccheck_wait(c, ticket, -1, &err) == PCCHECK_OK);
  int state = -1;
  CHECK(pccheck_poll(c, ticket, &state, &err) == PCCHECK_OK);
  CHECK(state == PCCHECK_COMMITTED);
  std::memset(mem, 0, 4096);
  uint64_t step = 0;
  char* blob = nullptr;
  size_t blob_len = 0;
  REQUIRE(pccheck_restore(c, -1, &step, &blob, &blob_len, &err) == PCCHECK_OK);
  CHECK(step == 9);
  CHECK(std::string(blob, blob_len) == "b");
  CHECK(static_cast<uint8_t*>(mem)[4095] == 5);
  pccheck_free(blob);
  pccheck_free(err);
  pccheck_close(c);
}

}  // namespace
}  // namespace pccheck
