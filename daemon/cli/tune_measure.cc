#include "cli/tune_measure.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "base/crc32c.h"
#include "io/raw_write.h"

namespace pccheck::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using HostBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

// Page-aligned plain memory with every page touched, so that page faults
// are not timed.
Result<HostBuffer> PlainBuffer(uint64_t bytes, uint8_t fill) {
  void* p = std::aligned_alloc(kDirectAlign, bytes);
  if (p == nullptr) {
    return Status::Internal("out of memory for a " + std::to_string(bytes) + "-byte buffer");
  }
  std::memset(p, fill, bytes);
  return HostBuffer(static_cast<uint8_t*>(p));
}

// The best rate of `once` (which moves `bytes`) over one untimed pass and
// then up to eight timed ones within about a quarter of a second.
template <typename F>
Result<double> BestRate(uint64_t bytes, F once) {
  PCC_RETURN_IF_ERROR(once());
  double best = 0;
  const auto start = SteadyClock::now();
  for (int pass = 0; pass < 8 && (pass < 2 || SecondsSince(start) < 0.25); ++pass) {
    const auto t0 = SteadyClock::now();
    PCC_RETURN_IF_ERROR(once());
    best = std::max(best, static_cast<double>(bytes) / std::max(SecondsSince(t0), 1e-9));
  }
  return best;
}

}  // namespace

SweepPlan FullSweep() {
  SweepPlan p;
  p.writers = {1, 2, 4, 8, 16};
  p.chunks = {4ull << 20, 8ull << 20, 16ull << 20, 32ull << 20, 64ull << 20};
  p.seconds = 20;
  p.warmup_bytes = 256ull << 20;
  p.max_point_bytes = 1ull << 30;
  return p;
}

SweepPlan QuickSweep() {
  SweepPlan p;
  p.writers = {1, 2, 4, 8};
  p.chunks = {4ull << 20, 16ull << 20, 64ull << 20};
  p.quick = true;
  p.seconds = 4;
  p.warmup_bytes = 128ull << 20;
  p.max_point_bytes = 512ull << 20;
  return p;
}

Result<SweepResult> SweepWrites(FileSystem* fs, const std::string& dir, const SweepPlan& plan,
                                Progress* progress) {
  if (plan.writers.empty() || plan.chunks.empty()) {
    return Status::InvalidArgument("the write sweep needs thread counts and chunk sizes");
  }
  const uint64_t largest = plan.chunks.back();
  const uint64_t warm = AlignUp(std::max(plan.warmup_bytes, largest), kDirectAlign);
  PCC_ASSIGN_OR_RETURN(auto file, RawWriteFile::Create(fs, dir, warm));
  SweepResult r;
  r.direct = file->direct();
  auto on_block = [progress](uint64_t n) { progress->Add(n); };
  progress->SetTotal(warm);

  // Sweep state: the first timed pass rewrites blocks the warm-up wrote
  // fresh, as the engine rewrites its slots in steady state.
  auto run = [&]() -> Status {
    const int warm_writers = std::min(4, plan.writers.back());
    PCC_ASSIGN_OR_RETURN(double warm_s,
                         file->Pass(0, warm, warm_writers, kRawBlockBytes, on_block));
    r.bytes_written += warm;
    const double warm_rate = static_cast<double>(warm) / std::max(warm_s, 1e-6);

    const size_t planned = plan.quick ? plan.writers.size() + plan.chunks.size() - 1
                                      : plan.writers.size() * plan.chunks.size();
    const double wanted = warm_rate * plan.seconds / static_cast<double>(planned);
    uint64_t pass =
        static_cast<uint64_t>(std::min(wanted, static_cast<double>(plan.max_point_bytes)));
    pass = std::max(pass / largest * largest, largest);
    if (pass > warm) {
      PCC_RETURN_IF_ERROR(file->Reserve(pass));
      progress->SetTotal(pass + planned * pass);
      PCC_RETURN_IF_ERROR(
          file->Pass(warm, pass - warm, warm_writers, kRawBlockBytes, on_block).status());
      r.bytes_written += pass - warm;
    } else {
      progress->SetTotal(warm + planned * pass);
    }
    r.point_bytes = pass;

    const auto deadline = SteadyClock::now() + std::chrono::duration<double>(2 * plan.seconds);
    auto measure = [&](int writers, uint64_t chunk) -> Status {
      const bool late = !r.points.empty() && SteadyClock::now() > deadline;
      if (late || static_cast<uint64_t>(writers) * chunk > pass) {
        ++r.skipped;
        return Status::Ok();
      }
      PCC_ASSIGN_OR_RETURN(double secs, file->Pass(0, pass, writers, chunk, on_block));
      r.points.push_back({writers, chunk, static_cast<double>(pass) / std::max(secs, 1e-9)});
      r.bytes_written += pass;
      return Status::Ok();
    };
    if (!plan.quick) {
      for (uint64_t chunk : plan.chunks) {
        for (int writers : plan.writers) PCC_RETURN_IF_ERROR(measure(writers, chunk));
      }
      return Status::Ok();
    }
    const uint64_t middle = plan.chunks[plan.chunks.size() / 2];
    for (int writers : plan.writers) PCC_RETURN_IF_ERROR(measure(writers, middle));
    if (r.points.empty()) return Status::Ok();
    const WritePoint best = *std::max_element(
        r.points.begin(), r.points.end(),
        [](const WritePoint& a, const WritePoint& b) { return a.bytes_per_s < b.bytes_per_s; });
    for (uint64_t chunk : plan.chunks) {
      if (chunk != middle) PCC_RETURN_IF_ERROR(measure(best.writers, chunk));
    }
    return Status::Ok();
  };
  Status s = run();
  Status closed = file->Close();
  PCC_RETURN_IF_ERROR(s.Annotate("write sweep on " + file->path()));
  PCC_RETURN_IF_ERROR(closed.Annotate("removing the write sweep's scratch file"));
  progress->SetTotal(r.bytes_written);
  return r;
}

Result<CopyRate> MeasureCopy(Gpu* gpu, int device, uint64_t bytes, uint64_t chunk_bytes) {
  bytes = AlignUp(std::max<uint64_t>(bytes, 1), kDirectAlign);
  chunk_bytes = std::max<uint64_t>(chunk_bytes, kDirectAlign);
  CopyRate rate;
  bool locked = false;
  PCC_ASSIGN_OR_RETURN(void* pinned_mem, gpu->AllocHost(bytes, &locked));
  auto* pinned = static_cast<uint8_t*>(pinned_mem);
  struct HostGuard {
    Gpu* gpu;
    void* p;
    uint64_t n;
    ~HostGuard() { gpu->FreeHost(p, n); }
  } host_guard{gpu, pinned_mem, bytes};
  rate.pinned = locked;

  if (device >= 0) {
    rate.gpu = true;
    std::string handle;
    PCC_ASSIGN_OR_RETURN(void* dev_mem, gpu->AllocShared(device, bytes, &handle));
    struct DeviceGuard {
      Gpu* gpu;
      int device;
      void* p;
      ~DeviceGuard() { (void)gpu->FreeShared(device, p); }
    } device_guard{gpu, device, dev_mem};
    const auto* src = static_cast<const uint8_t*>(dev_mem);
    auto once = [&]() -> Status {
      for (uint64_t at = 0; at < bytes; at += chunk_bytes) {
        PCC_RETURN_IF_ERROR(
            gpu->CopyToHost(device, pinned + at, src + at, std::min(chunk_bytes, bytes - at)));
      }
      PCC_ASSIGN_OR_RETURN(Fence f, gpu->Record(device));
      return gpu->Wait(f);
    };
    auto best = BestRate(bytes, once);
    if (!best.ok()) return best.status().Annotate("copying from device " + std::to_string(device));
    rate.bytes_per_s = *best;
    return rate;
  }

  // Host tensors: the pipeline's copy thread memcpys them, chunk by chunk.
  PCC_ASSIGN_OR_RETURN(HostBuffer src, PlainBuffer(bytes, 0x5a));
  auto memcpy_into = [&](uint8_t* dst) {
    return [&, dst]() -> Status {
      for (uint64_t at = 0; at < bytes; at += chunk_bytes) {
        std::memcpy(dst + at, src.get() + at, std::min(chunk_bytes, bytes - at));
      }
      return Status::Ok();
    };
  };
  PCC_ASSIGN_OR_RETURN(rate.bytes_per_s, BestRate(bytes, memcpy_into(pinned)));
  PCC_ASSIGN_OR_RETURN(HostBuffer plain, PlainBuffer(bytes, 0));
  PCC_ASSIGN_OR_RETURN(rate.plain_bytes_per_s, BestRate(bytes, memcpy_into(plain.get())));
  return rate;
}

double MeasureChecksum(uint64_t bytes) {
  std::vector<uint8_t> data(std::max<uint64_t>(bytes, 4096));
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 131 + (i >> 9));
  // Stored where the compiler must assume someone looks, so the checksum is computed.
  static std::atomic<uint32_t> sink{0};
  auto rate = BestRate(data.size(), [&]() -> Status {
    sink.store(Crc32c(data.data(), data.size()), std::memory_order_relaxed);
    return Status::Ok();
  });
  return rate.ok() ? *rate : 0;
}

Result<double> MeasureCommit(FileSystem* fs, const std::string& dir) {
  const std::string manifest = JoinPath(dir, ".pccheck-tune-manifest.tmp");
  const std::string latest = JoinPath(dir, ".pccheck-tune-latest.tmp");
  const std::string manifest_bytes(4096, 'm'), latest_bytes(64, 'l');
  std::vector<double> times;
  Status s;
  for (int i = 0; i < 5 && s.ok(); ++i) {
    const auto t0 = SteadyClock::now();
    s = fs->WriteFileAtomic(manifest, manifest_bytes);
    if (s.ok()) s = fs->WriteFileAtomic(latest, latest_bytes);
    times.push_back(SecondsSince(t0));
  }
  for (const std::string& p : {manifest, latest}) {
    if (fs->Exists(p)) {
      Status removed = fs->Remove(p);
      if (s.ok()) s = removed;
    }
  }
  PCC_RETURN_IF_ERROR(s.Annotate("timing the commit's synced writes in " + dir));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace pccheck::cli
