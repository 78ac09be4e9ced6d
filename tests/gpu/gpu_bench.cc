// gpu_bench: pccheck's GPU path against plain references measured in the same
// run on the same machine (BENCHMARKS.md), printed as one JSON object on
// stdout; progress goes to stderr.
//
//   snapshot   device -> daemon pinned pool, through save + before_update,
//              timed on the trainer's stream / a plain cudaMemcpyAsync into
//              cudaHostAlloc'd memory of the same size        (goal >= 0.90)
//   persist    the daemon's sustained write rate over several checkpoints /
//              the disk's write ceiling for as many bytes: the best of 1, 2,
//              4 and 8 parallel O_DIRECT streams at the daemon's chunk size,
//              fresh files and rewritten (io/disk_ceiling.h)      (<= 1.0)
//   save       the trainer's CPU time in save(), p50 and p99  (goal <= 100 us)
//   hold       how long before_update holds the trainer's stream when the
//              update comes right after the save (CUDA events around the
//              wait); staging mode: / a plain device-to-device copy (goal <= 1.2)
//   restore    restore from disk / the disk's read ceiling for the same
//              bytes: the best of 1, 2, 4 and 8 parallel O_DIRECT streams
//              reading the slot's data file            (goal >= 0.85, <= 1.0)
//   contexts   trainer work (device-to-device copies: no kernels) timed alone,
//              while the daemon copies the checkpoint in its own context,
//              and while the trainer's own context copies it instead
//
// Sizes: PCCHECK_GPU_BENCH_BYTES (default 4 GiB). Scratch space:
// PCCHECK_TEST_TMPDIR or TMPDIR (put it on the disk to measure, not tmpfs).
#include <cuda_runtime_api.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/json.h"
#include "bench_measures.h"
#include "cuda_testing.h"
#include "io/disk_ceiling.h"
#include "pccheck/client.h"
#include "support/test_util.h"

namespace pccheck::testing {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr int kRounds = 4;                      // timed rounds after one warm-up
constexpr uint64_t kChunk = 16 * (1ull << 20);  // the daemon's chunk, the ceilings' block

void Progress(const std::string& what) {
  std::fprintf(stderr, "gpu_bench: %s\n", what.c_str());
  std::fflush(stderr);
}

double Gbps(uint64_t bytes, double ms) {
  return ms > 0 ? static_cast<double>(bytes) / ms / 1e6 : 0;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

void Ok(const Status& s, const char* what) {
  if (!s.ok()) throw std::runtime_error(std::string(what) + ": " + s.ToString());
}
template <typename T>
T Ok(Result<T> r, const char* what) {
  if (!r.ok()) throw std::runtime_error(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

// The trainer's state: `bytes` in four tensors, each its own allocation.
struct Model {
  std::vector<std::unique_ptr<DeviceBuffer>> buffers;
  std::vector<DeviceTensor> tensors;
  Model(uint64_t bytes, int parts) {
    int device = 0;
    TEST_CUDA(cudaGetDevice(&device));
    for (int i = 0; i < parts; ++i) {
      const uint64_t n = bytes / parts / 256 * 256;
      buffers.push_back(std::make_unique<DeviceBuffer>(n));
      TEST_CUDA(cudaMemset(buffers.back()->get(), i + 1, n));
      tensors.push_back({{"t" + std::to_string(i),
                          "bfloat16",
                          {static_cast<int64_t>(n / 2)},
                          buffers.back()->get(),
                          n},
                         device});
    }
  }
  uint64_t bytes() const {
    uint64_t n = 0;
    for (auto& t : tensors) n += t.tensor.bytes;
    return n;
  }
};

class Bench {
 public:
  Bench() : bytes_(EnvBytes("PCCHECK_GPU_BENCH_BYTES", 4 * kGiB)) {}

  int Run() {
    cudaDeviceProp prop{};
    TEST_CUDA(cudaGetDeviceProperties(&prop, 0));
    out_.Add("device", std::string(prop.name)).Add("checkpoint_bytes", bytes_);
    TEST_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    TEST_CUDA(cudaStreamCreateWithFlags(&work_stream_, cudaStreamNonBlocking));
    Section("references", [&] { References(); });
    Section("daemon", [&] { StartDaemon(); });
    if (client_) {
      Section("snapshot and hold (direct)", [&] { SnapshotAndHold(); });
      Section("persist", [&] { Persist(); });
      Section("restore", [&] { Restore(); });
      Section("save CPU time", [&] { SaveCpu(); });
      Section("staging hold", [&] { StagingHold(); });
      Section("which context copies", [&] { Contexts(); });
    }
    std::string errors = "[";
    for (size_t i = 0; i < errors_.size(); ++i) {
      errors += (i ? ", " : "") + JsonString(errors_[i]);
    }
    out_.Raw("errors", errors + "]");
    std::printf("%s\n", out_.str().c_str());
    client_.reset();
    if (daemon_) daemon_->Stop();
    return errors_.empty() ? 0 : 1;
  }

 private:
  void Section(const std::string& name, const std::function<void()>& body) {
    Progress(name);
    try {
      body();
    } catch (const std::exception& e) {
      errors_.push_back(name + ": " + e.what());
      Progress("  failed: " + std::string(e.what()));
    }
  }

  // Plain copies of the checkpoint's size: the ceilings pccheck is held to.
  void References() {
    pinned_ = std::make_unique<PinnedBuffer>(bytes_);
    model_ = std::make_unique<Model>(bytes_, 4);
    std::vector<double> d2h, d2d;
    DeviceBuffer dst(model_->bytes());
    for (int i = 0; i <= kRounds; ++i) {
      double ms = TimeOnStream(stream_, [&] { CopyOut(pinned_->get(), cudaMemcpyDeviceToHost); });
      if (i > 0) d2h.push_back(ms);
      ms = TimeOnStream(stream_, [&] { CopyOut(dst.get(), cudaMemcpyDeviceToDevice); });
      if (i > 0) d2d.push_back(ms);
    }
    d2h_ms_ = Quantile(d2h, 0.5);
    d2d_ms_ = Quantile(d2d, 0.5);
    out_.Add("pinned_copy_gbps", Gbps(model_->bytes(), d2h_ms_))
        .Add("d2d_copy_ms", d2d_ms_)
        .Add("d2d_copy_gbps", Gbps(model_->bytes(), d2d_ms_));
  }

  // The model's tensors, back to back, into dst.
  void CopyOut(uint8_t* dst, cudaMemcpyKind kind) {
    uint64_t at = 0;
    for (auto& t : model_->tensors) {
      TEST_CUDA(cudaMemcpyAsync(dst + at, t.tensor.data, t.tensor.bytes, kind, stream_));
      at += t.tensor.bytes;
    }
  }

  void StartDaemon() {
    GpuDaemonFlags flags;
    flags.chunk = std::to_string(kChunk / kMiB) + "MiB";
    flags.pool = std::to_string((bytes_ + kGiB) / kMiB) + "MiB";  // a whole checkpoint fits
    daemon_ = std::make_unique<DaemonLauncher>(GpuDaemonOptions(dir_.path(), flags));
    const double start = NowSeconds();
    Ok(daemon_->Start(), "starting pccheckd");
    out_.Add("daemon_start_s", NowSeconds() - start);
    client_ = Ok(Client::Connect({daemon_->socket(), "gpu-bench", 0}), "connecting");
    Ok(client_->RegisterDevices(model_->tensors), "registering");
  }

  // Waits for every save in flight; one superseded by a newer step (newest
  // wins) is not a failure here.
  void Drain() {
    Status s = client_->WaitAll();
    if (!s.ok() && s.code() != Code::kAborted) Ok(s, "waiting for the saves in flight");
  }

  // One save with the update right behind it. Returns (ms from the save's
  // ready point to the end of the stream wait, ms the stream waited).
  std::pair<double, double> SaveThenUpdate(uint64_t step) {
    Drain();
    cudaEvent_t before, after_save, after_wait;
    TEST_CUDA(cudaEventCreate(&before));
    TEST_CUDA(cudaEventCreate(&after_save));
    TEST_CUDA(cudaEventCreate(&after_wait));
    TEST_CUDA(cudaEventRecord(before, stream_));
    Ok(client_->SaveOnStream(step, stream_), "save");
    TEST_CUDA(cudaEventRecord(after_save, stream_));
    Ok(client_->BeforeUpdateStream(stream_), "before_update");
    TEST_CUDA(cudaEventRecord(after_wait, stream_));
    TEST_CUDA(cudaMemsetAsync(model_->tensors[0].tensor.data, 0, 4096, stream_));  // the update
    TEST_CUDA(cudaStreamSynchronize(stream_));
    float total = 0, hold = 0;
    TEST_CUDA(cudaEventElapsedTime(&total, before, after_wait));
    TEST_CUDA(cudaEventElapsedTime(&hold, after_save, after_wait));
    for (auto e : {before, after_save, after_wait}) (void)cudaEventDestroy(e);
    return {total, hold};
  }

  void SnapshotAndHold() {
    std::vector<double> snap, hold;
    for (int i = 0; i <= kRounds; ++i) {
      auto [total, held] = SaveThenUpdate(next_step_++);
      if (i == 0) continue;
      snap.push_back(total);
      hold.push_back(held);
    }
    const double snap_gbps = Gbps(model_->bytes(), Quantile(snap, 0.5));
    out_.Add("snapshot_gbps", snap_gbps)
        .Add("snapshot_ratio", snap_gbps / Gbps(model_->bytes(), d2h_ms_))
        .Add("hold_direct_ms_p50", Quantile(hold, 0.5))
        .Add("hold_direct_ms_max", Quantile(hold, 1.0))
        .Add("hold_direct_vs_pinned_copy", Quantile(hold, 0.5) / d2h_ms_);
    snapshot_ms_ = Quantile(snap, 0.5);
  }

  void Persist() {
    Drain();
    constexpr int kSaves = 3;
    // The ceiling is measured before the run and again after it, and the
    // faster of the two counts per stream count: a virtual disk's rate drifts
    // (bursts, throttling), and the reference must be the best it showed.
    auto fs = NewPosixFileSystem();
    Progress("measuring the disk's write ceiling before the run (1, 2, 4, 8 streams)");
    auto raw = Ok(MeasureWriteCeiling(fs.get(), dir_.path(), kSaves * model_->bytes(), kChunk),
                  "write ceiling");
    const double start = NowSeconds();
    std::vector<uint64_t> tickets;
    for (int i = 0; i < kSaves; ++i) {
      tickets.push_back(Ok(client_->SaveOnStream(next_step_++, stream_), "save"));
      Ok(client_->BeforeUpdateStream(stream_), "before_update");
    }
    Drain();
    const double seconds = NowSeconds() - start;
    // Only committed saves reached the disk: with the default policy a save
    // that a newer one superseded while it waited in memory wrote nothing.
    int committed = 0;
    for (uint64_t t : tickets) {
      if (Ok(client_->Poll(t), "poll") == SaveState::kCommitted) ++committed;
    }
    const double persist = static_cast<double>(committed * model_->bytes()) / seconds / 1e9;
    Progress("measuring the disk's write ceiling after the run (1, 2, 4, 8 streams)");
    raw.Merge(Ok(MeasureWriteCeiling(fs.get(), dir_.path(), kSaves * model_->bytes(), kChunk),
                 "write ceiling"));
    JsonObject ceiling;
    AddWriteCeilingFields(ceiling, raw);
    out_.Add("persist_gbps", persist)
        .Add("persist_saves", kSaves)
        .Add("persist_saves_committed", committed)
        .Add("raw_write_gbps", raw.best().gbps)
        .Add("raw_write_streams", raw.best().streams)
        .Add("raw_write_direct", raw.direct)
        .Add("persist_ratio", persist / raw.best().gbps)
        .Add("persist_ratio_fresh", persist / raw.fresh().gbps)
        .Add("persist_ratio_rewrite", persist / raw.rewrite().gbps)
        .Raw("write_ceiling", ceiling.str());
  }

  // The newest commit is still in the daemon's pool (read from memory); an
  // older one comes from disk, compared with a raw read of its data file.
  void Restore() {
    Drain();
    double start = NowSeconds();
    auto newest = Ok(client_->Restore(), "restore");
    const double memory_s = NowSeconds() - start;
    std::optional<uint64_t> older;
    for (const auto& e : Ok(client_->List(), "list")) {
      if (e.step < newest.step && (!older || e.step > *older)) older = e.step;
    }
    if (!older) throw std::runtime_error("no committed step older than the newest to read");
    // The read ceiling before and after the restore, as for writes.
    auto fs = NewPosixFileSystem();
    const std::string data = SlotDataFile(fs.get());
    Progress("measuring the disk's read ceiling before the restore (1, 2, 4, 8 streams)");
    auto raw = Ok(MeasureReadCeiling(fs.get(), {data}, kChunk), "read ceiling");
    start = NowSeconds();
    auto info = Ok(client_->Restore(*older), "restore of an older step");
    const double seconds = NowSeconds() - start;
    const double bytes = static_cast<double>(model_->bytes());
    Progress("measuring the disk's read ceiling after the restore (1, 2, 4, 8 streams)");
    raw.Merge(Ok(MeasureReadCeiling(fs.get(), {data}, kChunk), "read ceiling"));
    JsonObject ceiling;
    AddReadCeilingFields(ceiling, raw);
    out_.Add("restore_newest_gbps", bytes / memory_s / 1e9)
        .Add("restore_newest_source", newest.source)
        .Add("restore_gbps", bytes / seconds / 1e9)
        .Add("restore_source", info.source)
        .Add("raw_read_gbps", raw.best().gbps)
        .Add("raw_read_streams", raw.best().streams)
        .Add("raw_read_direct", raw.direct)
        .Add("restore_ratio", bytes / seconds / 1e9 / raw.best().gbps)
        .Raw("read_ceiling", ceiling.str());
  }

  // A slot's data file, as many bytes as a checkpoint: what a raw read of
  // the same bytes reads.
  std::string SlotDataFile(FileSystem* fs) const {
    const std::string rank_dir = daemon_->root() + "/gpu-bench/rank-0";
    for (const auto& e : Ok(fs->List(rank_dir), "listing the store")) {
      if (e.name.ends_with(".data")) return rank_dir + "/" + e.name;
    }
    throw std::runtime_error("no slot data file in " + rank_dir);
  }

  void SaveCpu() {
    Model small(16 * kMiB, 1);
    Ok(client_->RegisterDevices(small.tensors), "registering a small table");
    std::vector<double> cpu, wall;
    for (int i = 0; i < 200; ++i) {
      Drain();
      const double c0 = ThreadCpuMicros(), w0 = NowSeconds();
      Ok(client_->SaveOnStream(next_step_++, stream_), "save");
      const double c1 = ThreadCpuMicros(), w1 = NowSeconds();
      Ok(client_->BeforeUpdateStream(stream_), "before_update");
      if (i < 10) continue;  // warm-up
      cpu.push_back(c1 - c0);
      wall.push_back((w1 - w0) * 1e6);
    }
    out_.Add("save_cpu_us_p50", Quantile(cpu, 0.5))
        .Add("save_cpu_us_p99", Quantile(cpu, 0.99))
        .Add("save_wall_us_p50", Quantile(wall, 0.5))
        .Add("save_wall_us_p99", Quantile(wall, 0.99))
        .Add("save_samples", static_cast<uint64_t>(cpu.size()));
    Drain();
    Ok(client_->RegisterDevices(model_->tensors), "registering the model again");
  }

  void StagingHold() {
    Ok(client_->RegisterDevices(model_->tensors, GpuSnapshot::kStaging), "staging registration");
    std::vector<double> hold;
    for (int i = 0; i <= kRounds; ++i) {
      auto [total, held] = SaveThenUpdate(next_step_++);
      (void)held;
      if (i > 0) hold.push_back(total);  // the save's own copy is on the stream too
    }
    Drain();
    out_.Add("hold_staging_ms_p50", Quantile(hold, 0.5))
        .Add("hold_staging_ms_max", Quantile(hold, 1.0))
        .Add("staging_hold_ratio", Quantile(hold, 0.5) / d2d_ms_);
    Ok(client_->RegisterDevices(model_->tensors), "registering the model again (direct)");
  }

  // Trainer work: device-to-device copies on the trainer's second stream.
  void Contexts() {
    DeviceBuffer a(256 * kMiB), b(256 * kMiB);
    auto work = [&](int n) {
      for (int i = 0; i < n; ++i) {
        TEST_CUDA(
            cudaMemcpyAsync(b.get(), a.get(), a.bytes(), cudaMemcpyDeviceToDevice, work_stream_));
      }
    };
    // As long as 1.5 checkpoint copies, so that the copy falls inside it.
    const double one = TimeOnStream(work_stream_, [&] { work(20); }) / 20;
    const int n = std::max(20, static_cast<int>(1.5 * snapshot_ms_ / std::max(one, 1e-3)));
    std::vector<double> alone, daemon, own;
    for (int i = 0; i < 3; ++i) {
      Drain();
      alone.push_back(TimeOnStream(work_stream_, [&] { work(n); }));
      daemon.push_back(TimeOnStream(work_stream_, [&] {
        Ok(client_->SaveOnStream(next_step_++, stream_), "save");
        work(n);
      }));
      Ok(client_->BeforeUpdateStream(stream_), "before_update");
      Drain();
      own.push_back(TimeOnStream(work_stream_, [&] {
        CopyOut(pinned_->get(), cudaMemcpyDeviceToHost);  // this context copies instead
        work(n);
      }));
      TEST_CUDA(cudaStreamSynchronize(stream_));
    }
    const double base = Quantile(alone, 0.5);
    out_.Add("trainer_work", "device-to-device cudaMemcpyAsync, 256 MiB each")
        .Add("trainer_work_ms", base)
        .Add("trainer_work_ms_daemon_copying", Quantile(daemon, 0.5))
        .Add("trainer_work_ms_own_context_copying", Quantile(own, 0.5))
        .Add("slowdown_daemon_context", Quantile(daemon, 0.5) / base)
        .Add("slowdown_own_context", Quantile(own, 0.5) / base);
  }

  const uint64_t bytes_;
  TempDir dir_;
  JsonObject out_;
  std::vector<std::string> errors_;
  cudaStream_t stream_ = nullptr, work_stream_ = nullptr;
  std::unique_ptr<PinnedBuffer> pinned_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<DaemonLauncher> daemon_;
  std::unique_ptr<Client> client_;
  double d2h_ms_ = 0, d2d_ms_ = 0, snapshot_ms_ = 0;
  uint64_t next_step_ = 1;
};

}  // namespace
}  // namespace pccheck::testing

int main() {
  std::string why;
  if (!pccheck::testing::CudaUsable(&why)) {
    std::printf("{\"error\": %s}\n", pccheck::JsonString("no CUDA device: " + why).c_str());
    return 77;
  }
  try {
    return pccheck::testing::Bench().Run();
  } catch (const std::exception& e) {
    std::printf("{\"error\": %s}\n", pccheck::JsonString(e.what()).c_str());
    return 1;
  }
}
