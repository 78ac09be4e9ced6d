// pccheck on a real GPU, end to end: a real pccheckd (the build's), libpccheck
// with cudaMalloc'd tensors, the daemon's copies through CUDA IPC.
//
//   * bit-exact save and restore of >= 4 GB of assorted tensors, several
//     saves in flight;
//   * ordering: right after before_update the trainer's stream overwrites its
//     tensors (cudaMemsetAsync, no kernel); the checkpoint must still hold the
//     values from before (direct and staging modes);
//   * tensors sharing one allocation at offsets, a zero-size tensor, host
//     tensors in the same table, storage that moves;
//   * a trainer killed mid-copy: the daemon abandons that checkpoint, keeps
//     serving, and loses no earlier one.
//
// Sizes come from the environment (PCCHECK_GPU_TEST_BYTES, _ORDER_BYTES,
// _KILL_BYTES, _POOL) so a smaller GPU or disk can run them too.
#include <cuda_runtime_api.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cuda_testing.h"
#include "gpu_cases.h"
#include "pccheck.h"
#include "pccheck/client.h"
#include "support/test_util.h"
#include "support/wait_until.h"

namespace pccheck::testing {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

// A trainer's state: named tensors in device allocations (and host memory).
struct Model {
  std::vector<std::shared_ptr<DeviceBuffer>> allocations;
  std::vector<DeviceTensor> tensors;
  std::vector<uint64_t> seeds;  // per tensor: mixed with the round's seed

  // A tensor of `bytes` at `offset` in allocation `alloc` (-1: a new one).
  void Add(const std::string& name, const std::string& dtype, uint64_t bytes, int alloc = -1,
           uint64_t offset = 0) {
    if (alloc < 0) {
      allocations.push_back(std::make_shared<DeviceBuffer>(bytes));
      alloc = static_cast<int>(allocations.size()) - 1;
    }
    int device = 0;
    TEST_CUDA(cudaGetDevice(&device));
    HostTensor t{
        name, dtype, {static_cast<int64_t>(bytes)}, allocations[alloc]->get() + offset, bytes};
    tensors.push_back({t, device});
    seeds.push_back(tensors.size() * 7919);
  }

  uint64_t bytes() const {
    uint64_t n = 0;
    for (auto& t : tensors) n += t.tensor.bytes;
    return n;
  }
  void Fill(uint64_t round, cudaStream_t stream) const {
    for (size_t i = 0; i < tensors.size(); ++i) {
      Pattern::Get().Fill(tensors[i].tensor.data, tensors[i].tensor.bytes, round + seeds[i],
                          stream);
    }
  }
  void Overwrite(int value, cudaStream_t stream) const {
    for (auto& t : tensors)
      TEST_CUDA(cudaMemsetAsync(t.tensor.data, value, t.tensor.bytes, stream));
  }
  // "" when every tensor holds round's contents, else which differs where.
  std::string Check(uint64_t round) const {
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = tensors[i].tensor;
      int64_t at = Pattern::Get().Mismatch(t.data, t.bytes, round + seeds[i]);
      if (at >= 0) {
        return "tensor '" + t.name + "' (" + std::to_string(t.bytes) + " bytes) differs at byte " +
               std::to_string(at) + " from round " + std::to_string(round);
      }
    }
    return "";
  }
};

// A mix of dtypes and sizes adding up to about `total`: big tensors on their
// own allocations, small ones sharing one (as a caching allocator does).
Model Assorted(uint64_t total) {
  Model m;
  const struct {
    const char* dtype;
    unsigned elem;
    double share;
  } big[] = {{"float32", 4, 0.26}, {"bfloat16", 2, 0.2},  {"float16", 2, 0.14},
             {"int64", 8, 0.12},   {"uint8", 1, 0.1},     {"float32", 4, 0.08},
             {"float64", 8, 0.05}, {"bfloat16", 2, 0.03}, {"int32", 4, 0.02}};
  int i = 0;
  for (const auto& b : big) {
    uint64_t bytes = static_cast<uint64_t>(b.share * static_cast<double>(total));
    bytes = bytes / b.elem * b.elem + (b.elem == 1 ? 4097 : 0);
    m.Add("big." + std::to_string(i++) + "." + b.dtype, b.dtype, bytes);
  }
  m.allocations.push_back(std::make_shared<DeviceBuffer>(8 * kMiB));
  const int shared = static_cast<int>(m.allocations.size()) - 1;
  const uint64_t small[] = {4, 12, 1000, 4096, 65536 + 6, 1 * kMiB + 2};
  uint64_t offset = 512;
  for (uint64_t bytes : small) {
    m.Add("small." + std::to_string(bytes), "uint8", bytes, shared, offset);
    offset += bytes + 256;
  }
  return m;
}

// A daemon and a client in a temporary directory, and the trainer's stream.
struct Rig {
  TempDir dir;
  DaemonLauncher daemon;
  std::unique_ptr<Client> client;
  cudaStream_t stream = nullptr;

  explicit Rig(GpuDaemonFlags flags) : daemon(GpuDaemonOptions(dir.path(), flags)) {
    Status started = daemon.Start();
    INFO(started.ToString());
    REQUIRE(started.ok());
    client = Connect();
    TEST_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  }
  ~Rig() {
    client.reset();
    if (stream != nullptr) (void)cudaStreamDestroy(stream);
  }
  std::unique_ptr<Client> Connect() {
    auto c = Client::Connect({daemon.socket(), "gpu-test", 0});
    INFO(c.status().ToString());
    REQUIRE(c.ok());
    return std::move(c).value();
  }
  void Sync() { TEST_CUDA(cudaStreamSynchronize(stream)); }
  // Restores `step` into the registered tensors and checks they hold `round`;
  // returns where the daemon read it ("memory" or "disk").
  std::string RestoreAndCheck(Model& m, uint64_t step, uint64_t round) {
    Sync();
    m.Overwrite(0x77, stream);  // whatever is there now must be replaced
    Sync();
    auto info = client->Restore(step);
    INFO(info.status().ToString());
    REQUIRE(info.ok());
    CHECK(info->step == step);
    CHECK((info->source == "disk" || info->source == "memory"));
    CHECK(m.Check(round) == "");
    return info->source;
  }
};

GpuDaemonFlags Flags(const std::string& pool) {
  GpuDaemonFlags f;
  f.pool = pool;
  return f;
}

std::string PoolFor(uint64_t bytes) { return std::to_string(bytes / kMiB + 256) + "MiB"; }

#define REQUIRE_OK(expr)                  \
  do {                                    \
    ::pccheck::Status s_ = (expr);        \
    INFO(#expr << ": " << s_.ToString()); \
    REQUIRE(s_.ok());                     \
  } while (0)

GPU_TEST_CASE("gpu bit-exact save and restore of 4 GB of assorted tensors with saves in flight",
              "[gpu]") {
  const uint64_t total = EnvBytes("PCCHECK_GPU_TEST_BYTES", 4 * kGiB + 256 * kMiB);
  // A pool smaller than one checkpoint: copies wait for writers (backpressure).
  const uint64_t pool = EnvBytes("PCCHECK_GPU_TEST_POOL", 2 * kGiB);
  Rig rig(Flags(std::to_string(pool / kMiB) + "MiB"));
  Model m = Assorted(total);
  INFO("checkpoint of " << m.bytes() << " bytes in " << m.tensors.size() << " tensors");
  REQUIRE(m.bytes() >= total);
  REQUIRE_OK(rig.client->RegisterDevices(m.tensors));
  std::vector<uint64_t> tickets;
  for (uint64_t step = 1; step <= 3; ++step) {
    m.Fill(step, rig.stream);
    auto t = rig.client->SaveOnStream(step, rig.stream, "blob " + std::to_string(step));
    INFO(t.status().ToString());
    REQUIRE(t.ok());
    tickets.push_back(*t);
    REQUIRE_OK(rig.client->BeforeUpdateStream(rig.stream));
  }
  for (size_t i = 0; i + 1 < tickets.size(); ++i) {
    Status s = rig.client->Wait(tickets[i]);
    CHECK((s.ok() || s.code() == Code::kAborted));  // superseded by a newer step is fine
  }
  REQUIRE_OK(rig.client->Wait(tickets.back()));
  auto list = rig.client->List();
  REQUIRE(list.ok());
  bool latest3 = false;
  for (const auto& e : *list) {
    CAPTURE(e.step);
    latest3 = latest3 || (e.latest && e.step == 3);
    rig.RestoreAndCheck(m, e.step, e.step);
  }
  CHECK(latest3);
}

void OrderingRounds(GpuSnapshot mode) {
  const uint64_t bytes = EnvBytes("PCCHECK_GPU_ORDER_BYTES", 1 * kGiB);
  // A pool that holds a whole checkpoint: the daemon queues its copies at once
  // and before_update never waits on the CPU.
  Rig rig(Flags(PoolFor(2 * bytes)));
  Model m;
  m.Add("weight", "float32", bytes / 4 * 3 / 4 * 4);
  m.Add("bias", "bfloat16", bytes / 8 * 2);
  REQUIRE_OK(rig.client->RegisterDevices(m.tensors, mode));
  for (uint64_t round = 1; round <= 4; ++round) {
    CAPTURE(round);
    m.Fill(round, rig.stream);
    auto t = rig.client->SaveOnStream(round, rig.stream);
    REQUIRE(t.ok());
    REQUIRE_OK(rig.client->BeforeUpdateStream(rig.stream));
    m.Overwrite(static_cast<int>(0xA0 + round), rig.stream);  // the "update", right away
    REQUIRE_OK(rig.client->Wait(*t));
    // The pool holds two checkpoints: the newest is still in daemon memory.
    CHECK(rig.RestoreAndCheck(m, round, round) == "memory");
  }
  // What reached the disk holds the snapshot too: round 3 is no longer resident.
  CHECK(rig.RestoreAndCheck(m, 3, 3) == "disk");
}

// A case that needs more than this machine has ends its process with 77: the
// runner (gpu_main.cc) reports it as skipped, by name, with this reason.
[[noreturn]] void SkipCase(const std::string& why) {
  std::printf("%s\n", why.c_str());
  std::fflush(stdout);
  std::_Exit(77);
}

GPU_TEST_CASE("gpu tensors on two devices in one table save and restore bit for bit", "[gpu]") {
  int devices = 0;
  TEST_CUDA(cudaGetDeviceCount(&devices));
  if (devices < 2) SkipCase("needs 2 CUDA devices; this machine has " + std::to_string(devices));
  const uint64_t bytes = EnvBytes("PCCHECK_GPU_ORDER_BYTES", 1 * kGiB) / 4;
  Rig rig(Flags(PoolFor(4 * bytes)));
  Model m;
  m.Add("dev0.weight", "float32", bytes);  // the Rig's stream is on device 0
  TEST_CUDA(cudaSetDevice(1));
  m.Add("dev1.weight", "bfloat16", bytes);
  m.allocations.push_back(std::make_shared<DeviceBuffer>(2 * kMiB));
  const int shared = static_cast<int>(m.allocations.size()) - 1;
  m.Add("dev1.small.a", "uint8", 4097, shared, 0);
  m.Add("dev1.small.b", "uint8", 65536, shared, 8192);
  TEST_CUDA(cudaSetDevice(0));
  REQUIRE(m.tensors[1].device == 1);
  REQUIRE_OK(rig.client->RegisterDevices(m.tensors));
  // Each device's tensors cleared on that device, synchronously.
  auto clear = [&m] {
    for (const auto& t : m.tensors) {
      TEST_CUDA(cudaSetDevice(t.device));
      TEST_CUDA(cudaMemset(t.tensor.data, 0x5A, t.tensor.bytes));
    }
    TEST_CUDA(cudaSetDevice(0));
  };
  // On failure the daemon's log says what it saw.
  auto ok = [&rig](const Status& s, const char* what) {
    if (!s.ok()) FAIL(what << ": " << s.ToString() << "\npccheckd's log:\n" << rig.daemon.Log());
  };
  for (uint64_t round = 1; round <= 3; ++round) {
    CAPTURE(round);
    m.Fill(round, rig.stream);
    auto t = rig.client->SaveOnStream(round, rig.stream);
    ok(t.status(), "save");
    ok(rig.client->BeforeUpdateStream(rig.stream), "before_update");
    ok(rig.client->Wait(*t), "wait");
    rig.Sync();
    clear();
    auto info = rig.client->Restore(round);
    INFO(info.status().ToString());
    REQUIRE(info.ok());
    CHECK(m.Check(round) == "");
  }
  // Step 2 is on disk only now: restored across both devices from there.
  clear();
  auto info = rig.client->Restore(2);
  REQUIRE(info.ok());
  CHECK(info->source == "disk");
  CHECK(m.Check(2) == "");
}

GPU_TEST_CASE("gpu restore reads the daemon's memory while the checkpoint is there, else the disk",
              "[gpu]") {
  const uint64_t bytes = EnvBytes("PCCHECK_GPU_ORDER_BYTES", 1 * kGiB);
  Rig rig(Flags(PoolFor(2 * bytes)));
  Model m;
  m.Add("weight", "float32", bytes / 4 * 4);
  REQUIRE_OK(rig.client->RegisterDevices(m.tensors));
  m.Fill(1, rig.stream);
  auto t = rig.client->SaveOnStream(1, rig.stream);
  REQUIRE(t.ok());
  REQUIRE_OK(rig.client->Wait(*t));
  CHECK(rig.RestoreAndCheck(m, 1, 1) == "memory");
  // A restarted daemon has an empty pool: the same step comes from disk.
  rig.client.reset();
  rig.daemon.Stop();
  REQUIRE_OK(rig.daemon.Start());
  rig.client = rig.Connect();
  REQUIRE_OK(rig.client->RegisterDevices(m.tensors));
  CHECK(rig.RestoreAndCheck(m, 1, 1) == "disk");
}

GPU_TEST_CASE("gpu ordering direct mode - an overwrite right after before_update stays out",
              "[gpu]") {
  OrderingRounds(GpuSnapshot::kDirect);
}

GPU_TEST_CASE("gpu ordering staging mode - an overwrite right after before_update stays out",
              "[gpu]") {
  OrderingRounds(GpuSnapshot::kStaging);
}

GPU_TEST_CASE("gpu tensors sharing an allocation at offsets with a zero-size one and host ones",
              "[gpu]") {
  for (GpuSnapshot mode : {GpuSnapshot::kDirect, GpuSnapshot::kStaging}) {
    CAPTURE(static_cast<int>(mode));
    Rig rig(Flags("256MiB"));
    Model m;
    m.allocations.push_back(std::make_shared<DeviceBuffer>(64 * kMiB));
    m.Add("a", "float32", 10 * kMiB, 0, 4096);
    m.Add("b", "uint8", 7 * kMiB + 3, 0, 20 * kMiB + 8);
    m.Add("c", "int64", 24 * kMiB - 4096, 0, 40 * kMiB);
    m.Add("own", "float16", 8 * kMiB);
    // The empty tensor points into the shared allocation; nothing is copied.
    DeviceTensor empty{{"empty", "float32", {0}, m.allocations[0]->get() + 123, 0}, 0};
    // Host tensors in the same table: one in the daemon-mapped arena, one not.
    auto arena = rig.client->AllocateShared(1 * kMiB);
    REQUIRE(arena.ok());
    std::vector<uint8_t> plain = RandomBytes(4096, 5);
    const std::vector<uint8_t> arena_bytes = RandomBytes(1 * kMiB, 6);
    std::memcpy(*arena, arena_bytes.data(), arena_bytes.size());
    std::vector<DeviceTensor> table = m.tensors;
    table.insert(table.begin() + 2, empty);
    table.push_back({{"host.arena", "uint8", {1 << 20}, *arena, 1 * kMiB}, -1});
    table.push_back({{"host.plain", "uint8", {4096}, plain.data(), 4096}, -1});
    REQUIRE_OK(rig.client->RegisterDevices(table, mode));

    m.Fill(1, rig.stream);
    auto t = rig.client->SaveOnStream(1, rig.stream);
    REQUIRE(t.ok());
    REQUIRE_OK(rig.client->BeforeUpdateStream(rig.stream));
    REQUIRE_OK(rig.client->Wait(*t));
    std::memset(*arena, 0, 1 * kMiB);
    std::memset(plain.data(), 0, plain.size());
    rig.RestoreAndCheck(m, 1, 1);
    CHECK(std::memcmp(*arena, arena_bytes.data(), arena_bytes.size()) == 0);
    CHECK(plain == RandomBytes(4096, 5));

    // The storage moves (a new allocation, other offsets): register again.
    Model moved;
    moved.allocations.push_back(std::make_shared<DeviceBuffer>(64 * kMiB));
    moved.Add("a", "float32", 10 * kMiB, 0, 0);
    moved.Add("b", "uint8", 7 * kMiB + 3, 0, 11 * kMiB);
    moved.Add("c", "int64", 24 * kMiB - 4096, 0, 30 * kMiB);
    moved.tensors.push_back(m.tensors[3]);  // "own" stays where it was
    moved.seeds.push_back(m.seeds[3]);
    std::vector<DeviceTensor> again = moved.tensors;
    again.insert(again.begin() + 2, empty);
    again.push_back(table[table.size() - 2]);
    again.push_back(table.back());
    REQUIRE_OK(rig.client->RegisterDevices(again, mode));
    moved.Fill(2, rig.stream);
    t = rig.client->SaveOnStream(2, rig.stream);
    REQUIRE(t.ok());
    REQUIRE_OK(rig.client->BeforeUpdateStream(rig.stream));
    REQUIRE_OK(rig.client->Wait(*t));
    rig.RestoreAndCheck(moved, 2, 2);
    rig.RestoreAndCheck(moved, 1, 1);  // step 1's bytes land in the new storage
  }
}

GPU_TEST_CASE("gpu C ABI - register_devices, save_on_stream, before_update_stream, restore",
              "[gpu]") {
  for (int staging : {0, 1}) {
    CAPTURE(staging);
    Rig rig(Flags("256MiB"));
    pccheck_client* c = nullptr;
    char* err = nullptr;
    REQUIRE(pccheck_connect(rig.daemon.socket().c_str(), "gpu-c", 0, &c, &err) == PCCHECK_OK);
    Model m;
    m.Add("w", "float32", 32 * kMiB);
    m.Add("b", "float32", 4 * kMiB + 256);
    const char* names[] = {"w", "b"};
    const char* dtypes[] = {"float32", "float32"};
    const int64_t w_shape[] = {8 * 1024 * 1024}, b_shape[] = {1024 * 1024 + 64};
    const int64_t* shapes[] = {w_shape, b_shape};
    const uint32_t ndims[] = {1, 1};
    void* data[] = {m.tensors[0].tensor.data, m.tensors[1].tensor.data};
    const uint64_t bytes[] = {m.tensors[0].tensor.bytes, m.tensors[1].tensor.bytes};
    const int32_t devices[] = {m.tensors[0].device, m.tensors[1].device};
    int rc = pccheck_register_devices(c, 2, names, dtypes, shapes, ndims, data, bytes, devices,
                                      staging, &err);
    INFO((err ? err : ""));
    REQUIRE(rc == PCCHECK_OK);
    m.Fill(9, rig.stream);
    uint64_t ticket = 0;
    REQUIRE(pccheck_save_on_stream(c, 9, "blob", 4, rig.stream, &ticket, &err) == PCCHECK_OK);
    REQUIRE(pccheck_before_update_stream(c, rig.stream, -1, &err) == PCCHECK_OK);
    m.Overwrite(0x11, rig.stream);
    REQUIRE(pccheck_wait(c, ticket, -1, &err) == PCCHECK_OK);
    rig.Sync();
    uint64_t restored = 0;
    char* blob = nullptr;
    size_t blob_len = 0;
    REQUIRE(pccheck_restore(c, -1, &restored, &blob, &blob_len, &err) == PCCHECK_OK);
    CHECK(restored == 9);
    CHECK(std::string(blob, blob_len) == "blob");
    CHECK(m.Check(9) == "");
    pccheck_free(blob);
    pccheck_free(err);
    pccheck_close(c);
  }
}

// The kill test's trainer, in a process of its own (gpu_tests --trainer-child
// SOCKET BYTES FD): commits step 1 and reports it; saves step 2 and, once
// before_update says the daemon's copies are queued (they run for tens of
// milliseconds), reports that and waits to be killed. Reports "error ..." on
// any failure.
int TrainerChild(const std::string& socket, uint64_t bytes, FILE* out) {
  auto report = [&](const std::string& line) {
    std::fprintf(out, "%s\n", line.c_str());
    std::fflush(out);
  };
  auto c = Client::Connect({socket, "gpu-test", 0});
  if (!c.ok()) return report("error " + c.status().ToString()), 1;
  Model m;
  m.Add("weights", "float32", bytes);
  cudaStream_t stream;
  TEST_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Status s = (*c)->RegisterDevices(m.tensors);
  if (!s.ok()) return report("error " + s.ToString()), 1;
  m.Fill(1, stream);
  auto t = (*c)->SaveOnStream(1, stream);
  if (!t.ok()) return report("error " + t.status().ToString()), 1;
  s = (*c)->Wait(*t);
  if (!s.ok()) return report("error " + s.ToString()), 1;
  report("committed 1");
  m.Fill(2, stream);
  t = (*c)->SaveOnStream(2, stream);
  if (!t.ok()) return report("error " + t.status().ToString()), 1;
  s = (*c)->BeforeUpdateStream(stream);
  if (!s.ok()) return report("error " + s.ToString()), 1;
  report("copying 2");
  for (;;) pause();
}

}  // namespace

int TrainerChildMain(int argc, char** argv) {
  if (argc != 3) return 2;
  FILE* out = fdopen(std::atoi(argv[2]), "w");
  if (out == nullptr) return 2;
  try {
    return TrainerChild(argv[0], std::stoull(argv[1]), out);
  } catch (const std::exception& e) {
    std::fprintf(out, "error %s\n", e.what());
    return 1;
  }
}

namespace {

GPU_TEST_CASE("gpu trainer killed mid-copy - the daemon abandons it and keeps every earlier one",
              "[gpu]") {
  const uint64_t bytes = EnvBytes("PCCHECK_GPU_KILL_BYTES", 2 * kGiB);
  Rig rig(Flags(PoolFor(2 * bytes)));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const std::string self = "/proc/self/exe";
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(fds[0]);
    execl(self.c_str(), self.c_str(), "--trainer-child", rig.daemon.socket().c_str(),
          std::to_string(bytes).c_str(), std::to_string(fds[1]).c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  FILE* in = fdopen(fds[0], "r");
  REQUIRE(in != nullptr);
  std::vector<std::string> lines;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, in) != nullptr) {
    std::string line(buf);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    lines.push_back(line);
    if (line == "copying 2" || line.starts_with("error")) break;
  }
  kill(child, SIGKILL);  // while the daemon copies step 2 out of its memory
  int status = 0;
  waitpid(child, &status, 0);
  std::fclose(in);
  INFO("trainer said: " << (lines.empty() ? "nothing" : lines.back()));
  REQUIRE(lines.size() == 2);
  REQUIRE(lines.back() == "copying 2");

  // The daemon is alive, lets the abandoned save go, and serves a new trainer.
  REQUIRE(rig.daemon.Alive());
  bool answered = true;
  const Status idle = WaitUntil(
      [&] {
        auto st = QueryStatusJson(rig.daemon.socket());
        answered = st.ok();
        return !answered || st->find("\"inflight\": []") != std::string::npos;
      },
      std::chrono::seconds(120), "the daemon has no save in flight");
  REQUIRE(answered);
  INFO(rig.daemon.Log());
  REQUIRE(idle.ok());
  Model m;
  m.Add("weights", "float32", bytes);
  REQUIRE_OK(rig.client->RegisterDevices(m.tensors));
  auto list = rig.client->List();
  REQUIRE(list.ok());
  bool has1 = false, has2 = false;
  for (const auto& e : *list) {
    has1 = has1 || e.step == 1;
    has2 = has2 || e.step == 2;
  }
  CHECK(has1);
  rig.RestoreAndCheck(m, 1, 1);
  // Step 2 may have committed if its snapshot was whole before the kill:
  // then it must be exactly the state the trainer had at save().
  if (has2) rig.RestoreAndCheck(m, 2, 2);
  m.Fill(3, rig.stream);
  auto t = rig.client->SaveOnStream(3, rig.stream);
  REQUIRE(t.ok());
  REQUIRE_OK(rig.client->BeforeUpdateStream(rig.stream));
  REQUIRE_OK(rig.client->Wait(*t));
  rig.RestoreAndCheck(m, 3, 3);
  INFO(rig.daemon.Log());
  CHECK(rig.daemon.Alive());
}

}  // namespace
}  // namespace pccheck::testing
