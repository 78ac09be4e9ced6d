// `pccheck bench --socket PATH --every-ms MS`: one client shaped like a
// trainer. It alternates MS milliseconds of simulated work (a sleep, so it
// takes no CPU from the daemon) with a save and a before_update, and times how
// long each save + before_update held it. Ideal wall time is N x MS: what the
// trainer would take if checkpoints cost nothing.
//
// copy_ms_p50 is the snapshot's own copy time, measured in the same run: the
// median of three memcpys of the same bytes into a separate buffer, the copy
// the daemon makes of host tensors. A trainer held no longer than that waited
// for nothing but its copy.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "base/json.h"
#include "base/size_parse.h"
#include "cli/bench_data.h"
#include "cli/commands.h"
#include "pccheck/client.h"

namespace pccheck::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

double MsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

double Quantile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

double MeasureCopyMs(const uint8_t* src, uint64_t bytes) {
  std::vector<uint8_t> dst(bytes);
  std::vector<double> ms;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = SteadyClock::now();
    std::memcpy(dst.data(), src, bytes);
    ms.push_back(MsSince(t0));
  }
  return Quantile(ms, 0.5);
}

}  // namespace

int RunTrainerBench(const BenchOptions& o) {
  auto fail = [](const std::string& what, const Status& s) {
    std::fprintf(stderr, "pccheck bench: %s: %s\n", what.c_str(), s.ToString().c_str());
    return kExitFailed;
  };
  auto connected = Client::Connect({o.socket, o.job, o.rank});
  if (!connected.ok()) return fail("connecting", connected.status());
  Client& client = **connected;
  auto mem = client.AllocateShared(o.size);
  if (!mem.ok()) return fail("allocating shared memory", mem.status());
  auto* base = static_cast<uint8_t*>(*mem);
  FillRandom(base, o.size, o.size ^ 0x7a11);
  std::vector<HostTensor> tensors;
  for (const BenchTensor& b : SplitIntoTensors(o.size)) {
    tensors.push_back({b.name, "uint8", {static_cast<int64_t>(b.bytes)}, base + b.offset, b.bytes});
  }
  if (Status s = client.Register(tensors); !s.ok()) return fail("registering", s);
  auto latest = client.LatestStep();
  if (!latest.ok()) return fail("listing", latest.status());
  const uint64_t first = latest->value_or(0) + 1;
  const double copy_ms = MeasureCopyMs(base, o.size);
  std::fprintf(stderr,
               "bench: trainer-shaped client of pccheckd at %s: %" PRIu64
               " saves of %s, one every %" PRIu64 " ms of simulated work\n",
               o.socket.c_str(), o.count, FormatSize(o.size).c_str(), o.every_ms);

  std::vector<uint64_t> tickets;
  std::vector<double> hold_ms;
  uint64_t lag_max = 0;
  const auto t0 = SteadyClock::now();
  for (uint64_t i = 0; i < o.count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.every_ms));  // the "work"
    const uint64_t step = first + i;
    const auto h0 = SteadyClock::now();
    auto ticket = client.Save(step);
    Status s = ticket.ok() ? client.BeforeUpdate() : ticket.status();
    hold_ms.push_back(MsSince(h0));
    if (ticket.ok()) tickets.push_back(*ticket);
    if (!ticket.ok() && ticket.status().code() == Code::kUnavailable) {
      return fail("saving", ticket.status());
    }
    (void)s;  // a refused save (kBusy) is counted below, from its ticket
    const auto durable = client.NewestDurableStep();
    lag_max = std::max(lag_max, step - std::min(step, durable.value_or(first - 1)));
  }
  const double work_end_s = MsSince(t0) / 1000;
  Status all = client.WaitAll();
  (void)all;  // each ticket's outcome is counted below
  uint64_t committed = 0, coalesced = 0, skipped = 0, failed = 0;
  for (uint64_t t : tickets) {
    auto state = client.Poll(t);
    if (!state.ok()) continue;
    if (*state == SaveState::kCommitted) {
      ++committed;
    } else if (*state == SaveState::kCoalesced) {
      ++coalesced;
    } else if (client.Wait(t, 0).code() == Code::kBusy) {
      ++skipped;
    } else {
      ++failed;
    }
  }
  skipped += o.count - tickets.size();
  const double ideal_s = static_cast<double>(o.count * o.every_ms) / 1000;
  const double p50 = Quantile(hold_ms, 0.5), p99 = Quantile(hold_ms, 0.99);
  if (o.json) {
    JsonObject j;
    j.Add("saves_requested", o.count)
        .Add("saves_committed", committed)
        .Add("saves_coalesced", coalesced)
        .Add("saves_skipped", skipped)
        .Add("saves_failed", failed)
        .Add("hold_ms_p50", p50)
        .Add("hold_ms_p99", p99)
        .Add("copy_ms_p50", copy_ms)
        .Add("durable_lag_steps_max", lag_max)
        .Add("wall_s", work_end_s)
        .Add("ideal_s", ideal_s)
        .Add("checkpoint_bytes", o.size)
        .Add("every_ms", o.every_ms);
    std::printf("%s\n", j.str().c_str());
  } else {
    std::printf("saves: %" PRIu64 " requested, %" PRIu64 " committed, %" PRIu64
                " coalesced, %" PRIu64 " skipped, %" PRIu64 " failed\n",
                o.count, committed, coalesced, skipped, failed);
    std::printf("held per save: p50 %.2f ms, p99 %.2f ms (the copy alone: %.2f ms)\n", p50, p99,
                copy_ms);
    std::printf("wall %.2f s against an ideal %.2f s (%.3fx); durable lag at most %" PRIu64
                " steps\n",
                work_end_s, ideal_s, ideal_s > 0 ? work_end_s / ideal_s : 0, lag_max);
  }
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace pccheck::cli
