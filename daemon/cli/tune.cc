// `pccheck tune`: measures this node (tune_measure.h), recommends pccheckd
// settings and a checkpoint interval (tune_model.h), and says why in words.
// The formulas are derived in docs/tuning.md.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/crc32c.h"
#include "base/json.h"
#include "base/size_parse.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/tune_measure.h"
#include "cli/tune_model.h"
#include "config/settings.h"

namespace pccheck::cli {

namespace {

const std::vector<std::string> kKeys = {"writers", "chunk", "max-inflight", "pool"};

struct Measured {
  SweepPlan plan;
  SweepResult sweep;
  CopyRate copy;
  double copy_node = 0;  // bytes/s: every rank's snapshot together
  std::string gpu;       // "none", or the Gpu's description
  int device = -1;       // measured GPU; -1: host memcpy
  int devices = 0;
  double checksum = 0;
  double commit_s = 0;
};

// ---- Words and numbers ------------------------------------------------------

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Gb(double bytes_per_s) { return Fmt("%.2f GB/s", bytes_per_s / 1e9); }

std::string Secs(double s) {
  if (!std::isfinite(s)) return "forever";
  if (s < 0.1) return Fmt("%.1f ms", s * 1e3);
  return Fmt(s < 100 ? "%.2f s" : "%.0f s", s);
}

std::string Pct(double f) { return Fmt(f < 0.001 && f > 0 ? "%.2f%%" : "%.1f%%", f * 100); }

std::string Plural(uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// `text` folded at spaces into lines of at most `width`, each after `indent`.
std::string Wrap(const std::string& text, const std::string& indent, size_t width = 96) {
  std::string out, line;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(at, end - at);
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    at = end + 1;
  }
  if (!line.empty()) out += indent + line + "\n";
  return out;
}

uint64_t HalfOfMemory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 4ull << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2;
}

// ---- Measuring --------------------------------------------------------------

Result<Measured> Measure(const TuneOptions& o, const std::string& root, Gpu* gpu, int device,
                         const std::string& gpu_description) {
  Measured m;
  m.plan = o.quick ? QuickSweep() : FullSweep();
  if (o.sweep_seconds > 0) m.plan.seconds = o.sweep_seconds;
  m.device = device;
  m.devices = gpu->DeviceCount();
  m.gpu = gpu_description;
  auto fs = NewPosixFileSystem();
  {
    Progress progress("tune: writes", 0, !o.json && !o.print_config);
    PCC_ASSIGN_OR_RETURN(m.sweep, SweepWrites(fs.get(), root, m.plan, &progress));
  }
  const uint64_t copy_bytes =
      std::clamp<uint64_t>(o.size, 16ull << 20, o.quick ? 64ull << 20 : 256ull << 20);
  PCC_ASSIGN_OR_RETURN(m.copy, MeasureCopy(gpu, device, copy_bytes, 16ull << 20));
  // Each GPU copies over its own link; host tensors go through the one copy thread.
  m.copy_node = m.copy.bytes_per_s * (device >= 0 ? std::max(1, std::min(o.ranks, m.devices)) : 1);
  m.checksum = MeasureChecksum(o.quick ? 32ull << 20 : 128ull << 20);
  PCC_ASSIGN_OR_RETURN(m.commit_s, MeasureCommit(fs.get(), root));
  return m;
}

TuneInputs Inputs(const TuneOptions& o, const Measured& m) {
  TuneInputs in;
  in.checkpoint_bytes = o.size;
  in.ranks = o.ranks;
  in.iteration_s = o.iteration_s;
  in.budget = o.budget;
  in.writes = m.sweep.points;
  in.copy_bytes_per_s = m.copy_node;
  in.checksum_bytes_per_s = m.checksum;
  in.commit_s = m.commit_s;
  in.max_pool_bytes = o.max_pool != 0 ? o.max_pool : HalfOfMemory();
  in.max_interval = o.max_interval != 0
                        ? o.max_interval
                        : std::max<uint64_t>(1, static_cast<uint64_t>(3600 / o.iteration_s));
  return in;
}

// ---- Saying it --------------------------------------------------------------

std::string CopyWhat(const Measured& m) {
  if (m.device >= 0) {
    return "device " + std::to_string(m.device) + " (" + m.gpu + ") -> " +
           (m.copy.pinned ? "pinned" : "unpinned (pinning refused)") + " host memory";
  }
  return "no GPU: host tensors, copy rate = memcpy rate (" + Gb(m.copy.bytes_per_s) + " into " +
         (m.copy.pinned ? "pinned" : "unpinned") + " memory, " + Gb(m.copy.plain_bytes_per_s) +
         " into plain memory)";
}

std::string SweepTable(const Measured& m) {
  std::string out = "  write sweep, GB/s (" + FormatSize(m.sweep.point_bytes) +
                    " per pass; - not measured)\n             ";
  for (uint64_t c : m.plan.chunks) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%8s", FormatSize(c).c_str());
    out += buf;
  }
  out += "\n";
  for (int w : m.plan.writers) {
    char label[32];
    std::snprintf(label, sizeof label, "  %3d %-8s", w, w == 1 ? "writer" : "writers");
    out += label;
    for (uint64_t c : m.plan.chunks) {
      auto p = std::find_if(m.sweep.points.begin(), m.sweep.points.end(), [&](const WritePoint& x) {
        return x.writers == w && x.chunk_bytes == c;
      });
      out += p == m.sweep.points.end() ? "       -" : Fmt("%8.2f", p->bytes_per_s / 1e9);
    }
    out += "\n";
  }
  return out;
}

std::vector<std::string> Reasons(const TuneOptions& o, const TuneInputs& in, const TuneAdvice& a) {
  std::vector<std::string> why;
  double best = 0;
  for (const WritePoint& p : in.writes) best = std::max(best, EffectiveWriteRate(in, p));
  std::string w = Plural(a.writers, "writer", "writers") + " with " + FormatSize(a.chunk_bytes) +
                  " chunks write " + Gb(a.write_bytes_per_s);
  if (in.checksum_bytes_per_s > 0) {
    w += " (" + Gb(a.raw_write_bytes_per_s) + " raw, less the time each writer spends on " +
         "checksums at " + Gb(in.checksum_bytes_per_s) + " per thread)";
  }
  w += a.write_bytes_per_s >= best ? "; no other point of the sweep was faster."
                                   : "; the fastest point reached " + Gb(best) +
                                         ", less than 5% more, for more threads or memory.";
  why.push_back("Writes: " + w);

  const std::string round = in.ranks == 1
                                ? FormatSize(o.size)
                                : std::to_string(in.ranks) + " x " + FormatSize(o.size) + " = " +
                                      FormatSize(static_cast<uint64_t>(a.round_bytes));
  const double fill = a.chunk_bytes / in.copy_bytes_per_s + a.chunk_bytes / a.write_bytes_per_s;
  why.push_back(
      "Persist: a checkpoint" + std::string(in.ranks == 1 ? "" : " round") + " of " + round +
      " takes T_w = size / write rate = " + Secs(a.persist_s) +
      " to write and T_c = size / copy rate = " + Secs(a.copy_s) +
      " to copy. Copies and writes overlap chunk by chunk, so one lives L = max(T_w, T_c) "
      "+ its first and last chunk (" +
      Secs(fill) + ") + the commit (" + Secs(in.commit_s) + ") = " + Secs(a.lifetime_s) +
      " from save to commit.");

  const double pace = std::max(a.persist_s, a.copy_s);
  std::string n = "max-inflight " + std::to_string(a.max_inflight) +
                  ": with N in flight a new checkpoint may start every L / N = " +
                  Secs(a.lifetime_s / a.max_inflight) + " (PCcheck's T_w / N), but the " +
                  (a.persist_s >= a.copy_s ? "disk" : "copy") + " finishes one only every " +
                  Secs(pace) + ", so ";
  if (a.pool_limited) {
    n += std::to_string(a.wanted_inflight) + " would keep it busy; the pool may hold only " +
         Plural(static_cast<uint64_t>(a.max_inflight), "checkpoint", "checkpoints") + " (" +
         FormatSize(in.max_pool_bytes) + " at most: --max-pool), which sets the spacing to " +
         Secs(a.spacing_s) + ".";
  } else {
    n +=
        std::to_string(a.max_inflight) + " is the fewest that keep it busy; more would only queue.";
  }
  why.push_back(n);

  const uint64_t round_pool =
      static_cast<uint64_t>(in.ranks) * AlignUp(in.checkpoint_bytes, a.chunk_bytes);
  if (a.pool_bytes >= round_pool) {
    why.push_back("pool " + FormatSize(a.pool_bytes) + ": " + std::to_string(a.max_inflight) +
                  " x " + FormatSize(round_pool) +
                  ", room to snapshot every checkpoint in flight in full, so a snapshot waits for "
                  "its copy only, never for the disk.");
  } else {
    why.push_back("pool " + FormatSize(a.pool_bytes) +
                  ": all that --max-pool allows, less than "
                  "one checkpoint (" +
                  FormatSize(round_pool) +
                  "); the bytes beyond it wait for "
                  "writes to free chunks, so a snapshot takes " +
                  Secs(a.snapshot_s) + " instead of " + Secs(a.copy_s) + ".");
  }

  why.push_back(
      "Stall: the trainer's next optimizer step waits for the snapshot (" + Secs(a.snapshot_s) +
      "), which overlaps the next iteration (" + Secs(in.iteration_s) +
      "): " + (a.stall_s > 0 ? "a stall of " + Secs(a.stall_s) + " per checkpoint." : "no stall."));

  std::string k =
      "Interval: checkpointing every k iterations slows training by "
      "max(k*t + stall, spacing) / (k*t) - 1, where spacing = max(T_w, T_c, L / N) = " +
      Secs(a.spacing_s) + " is the shortest time between checkpoint starts. ";
  if (a.feasible) {
    k += "The shortest k within " + Pct(in.budget) + " is " + std::to_string(a.interval) +
         " (every " + Secs(a.interval * in.iteration_s) + "), predicted slowdown " +
         Pct(a.slowdown) + ".";
  } else {
    k += "No interval up to " + std::to_string(in.max_interval) + " iterations (" +
         Secs(in.max_interval * in.iteration_s) + ", --max-interval) keeps within " +
         Pct(in.budget) + ": at " + std::to_string(in.max_interval) + " it is " + Pct(a.slowdown) +
         ". ";
    if (in.budget == 0 && a.stall_s > 0) {
      k += "A budget of 0 allows no stall at all, and every checkpoint stalls the trainer " +
           Secs(a.stall_s) + ".";
    } else if (a.stall_s > 0) {
      k += "The snapshot outlasts an iteration: give the pool more memory (--max-pool), copy "
           "faster, or accept a larger --budget or --max-interval.";
    } else {
      k += "The store is too slow for this checkpoint: a faster disk, smaller checkpoints, or a "
           "larger --budget or --max-interval.";
    }
  }
  why.push_back(k);

  if (std::isfinite(a.pccheck_bound)) {
    why.push_back(
        "PCcheck's bound, interval >= T_w / (N*q*t) = " + Fmt("%.0f", std::ceil(a.pccheck_bound)) +
        " iterations, counts the whole persist time as slowdown: use it instead when "
        "training and checkpoint writes contend (CPU-bound data loading, a shared disk).");
  }
  return why;
}

DaemonConfig ConfigOf(const TuneAdvice& a) {
  DaemonConfig c;
  c.engine.writers = a.writers;
  c.engine.chunk_bytes = a.chunk_bytes;
  c.engine.max_inflight = a.max_inflight;
  c.engine.pool_bytes = a.pool_bytes;
  return c;
}

std::string ConfigText(const TuneOptions& o, const TuneAdvice& a) {
  std::string header = "# pccheck tune: " + FormatSize(o.size) + " checkpoints" +
                       (o.ranks > 1 ? " x " + std::to_string(o.ranks) + " ranks" : "") + ", " +
                       Secs(o.iteration_s) + " iterations, budget " + Pct(o.budget) + ": ";
  header += a.feasible ? "checkpoint every " + Plural(a.interval, "iteration", "iterations") + ".\n"
                       : "no interval keeps within the budget.\n";
  return header + ConfigSnippet(ConfigOf(a), kKeys);
}

void PrintJson(const TuneOptions& o, const std::string& root, const TuneInputs& in,
               const TuneAdvice& a, const Measured& m) {
  std::string sweep = "[";
  for (const WritePoint& p : m.sweep.points) {
    sweep += (sweep.size() > 1 ? ", " : "") + JsonObject()
                                                  .Add("writers", p.writers)
                                                  .Add("chunk_bytes", p.chunk_bytes)
                                                  .Add("gbps", p.bytes_per_s / 1e9)
                                                  .str();
  }
  sweep += "]";
  JsonObject j;
  j.Add("root", root)
      .Add("checkpoint_bytes", o.size)
      .Add("ranks", o.ranks)
      .Add("iteration_s", o.iteration_s)
      .Add("budget", o.budget)
      .Add("write_gbps", a.write_bytes_per_s / 1e9)
      .Add("write_raw_gbps", a.raw_write_bytes_per_s / 1e9)
      .Add("write_o_direct", m.sweep.direct)
      .Add("copy_gbps", m.copy_node / 1e9)
      .Add("copy_source", m.device >= 0 ? "gpu" : "host")
      .Add("copy_pinned", m.copy.pinned)
      .Add("copy_plain_gbps", m.device >= 0 ? NAN : m.copy.plain_bytes_per_s / 1e9)
      .Add("gpu", m.gpu)
      .Add("device", m.device)
      .Add("checksum_gbps", m.checksum / 1e9)
      .Add("commit_ms", m.commit_s * 1e3)
      .Raw("sweep", sweep)
      .Add("sweep_skipped", m.sweep.skipped)
      .Add("sweep_pass_bytes", m.sweep.point_bytes)
      .Add("writers", a.writers)
      .Add("chunk_bytes", a.chunk_bytes)
      .Add("max_inflight", a.max_inflight)
      .Add("pool_bytes", a.pool_bytes)
      .Add("feasible", a.feasible)
      .Add("interval_iterations", a.interval)
      .Add("interval_s", static_cast<double>(a.interval) * o.iteration_s)
      .Add("slowdown", a.slowdown)
      .Add("persist_s", a.persist_s)
      .Add("copy_s", a.copy_s)
      .Add("lifetime_s", a.lifetime_s)
      .Add("spacing_s", a.spacing_s)
      .Add("snapshot_s", a.snapshot_s)
      .Add("stall_s", a.stall_s)
      .Add("wanted_inflight", a.wanted_inflight)
      .Add("pool_limited", a.pool_limited)
      .Add("max_pool_bytes", in.max_pool_bytes)
      .Add("max_interval", in.max_interval)
      .Add("pccheck_bound_iterations", std::ceil(a.pccheck_bound))
      .Add("config", ConfigSnippet(ConfigOf(a), kKeys))
      .Add("flags", FlagsFor(ConfigOf(a), kKeys));
  std::printf("%s\n", j.str().c_str());
}

void PrintText(const TuneOptions& o, const std::string& root, const TuneInputs& in,
               const TuneAdvice& a, const Measured& m) {
  std::string out = "measured in " + root +
                    (m.sweep.direct ? " (O_DIRECT)" : " (buffered: O_DIRECT refused here)") + "\n";
  auto row = [&out](const std::string& label, const std::string& value, const std::string& note) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %-13s %-12s ", label.c_str(), value.c_str());
    std::string line = buf + note;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  row("writes", Gb(a.write_bytes_per_s),
      Plural(a.writers, "writer", "writers") + ", " + FormatSize(a.chunk_bytes) +
          " chunks, after checksums (sweep below)");
  row("copy", Gb(m.copy_node), CopyWhat(m));
  row("checksum", Gb(m.checksum),
      std::string("per writer thread (CRC32C, ") + (Crc32cHardware() ? "hardware" : "table") + ")");
  row("commit", Secs(m.commit_s), "manifest and latest, each written, synced and renamed");
  out += SweepTable(m);

  out += "\nrecommended\n";
  row("writers", std::to_string(a.writers), "");
  row("chunk", FormatSize(a.chunk_bytes), "");
  row("max-inflight", std::to_string(a.max_inflight), "");
  row("pool", FormatSize(a.pool_bytes), "");
  if (a.feasible) {
    out += "  interval      every " + Plural(a.interval, "iteration", "iterations") + " (" +
           Secs(a.interval * o.iteration_s) + "), predicted slowdown " + Pct(a.slowdown) +
           " (budget " + Pct(o.budget) + ")\n";
  } else {
    out += "  interval      none within the budget of " + Pct(o.budget) + " (see why)\n";
  }

  out += "\nwhy\n";
  for (const std::string& r : Reasons(o, in, a)) {
    std::string wrapped = Wrap(r, "    ");
    out += "  " + wrapped.substr(4);
  }
  out += "\npccheckd settings (add to its config file, or pass the flags):\n";
  out += ConfigText(o, a);
  out += "# pccheckd " + FlagsFor(ConfigOf(a), kKeys) + "\n";
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int RunTune(const TuneOptions& o) {
  std::string root = o.root;
  if (root.empty()) {
    auto defaults = DefaultDaemonConfig();
    if (!defaults.ok()) {
      std::fprintf(stderr, "pccheck tune: no default store for this user (%s); give --root DIR\n",
                   defaults.status().message().c_str());
      return kExitUsage;
    }
    root = defaults->engine.root;
  }

  const SweepPlan plan = o.quick ? QuickSweep() : FullSweep();
  if (o.max_pool != 0 && o.max_pool < 2 * plan.chunks.front()) {
    std::fprintf(stderr,
                 "pccheck tune: --max-pool %s holds fewer than two chunks of %s, the smallest "
                 "measured; allow at least %s\n",
                 FormatSize(o.max_pool).c_str(), FormatSize(plan.chunks.front()).c_str(),
                 FormatSize(2 * plan.chunks.front()).c_str());
    return kExitUsage;
  }

  std::string why;
  std::unique_ptr<Gpu> gpu = NewCudaGpu(&why);
  int device = -1;
  std::string description = "none";
  if (gpu != nullptr) {
    device = o.device >= 0 ? o.device : 0;
    if (device >= gpu->DeviceCount()) {
      std::fprintf(stderr,
                   "pccheck tune: --device %d: this machine has %d GPU(s), numbered from 0; "
                   "name one of them\n",
                   o.device, gpu->DeviceCount());
      return kExitUsage;
    }
    description = gpu->Describe();
  } else {
    if (o.device >= 0) {
      std::fprintf(stderr,
                   "pccheck tune: --device %d: no usable GPU here (%s); leave --device out to "
                   "measure host-memory copies\n",
                   o.device, why.c_str());
      return kExitUsage;
    }
    gpu = NewFakeGpu(0);  // page-locked host memory, for the copy test
  }

  auto fs = NewPosixFileSystem();
  if (Status s = fs->CreateDirs(root); !s.ok()) {
    std::fprintf(stderr, "pccheck tune: cannot use the store directory %s: %s (check --root)\n",
                 root.c_str(), s.message().c_str());
    return kExitFailed;
  }
  if (!o.json && !o.print_config) {
    std::fprintf(stderr, "tune: measuring %s for %s checkpoints%s (%s)...\n", root.c_str(),
                 FormatSize(o.size).c_str(),
                 o.ranks > 1 ? (" x " + std::to_string(o.ranks) + " ranks").c_str() : "",
                 o.quick ? "quick" : "about half a minute; --quick takes a few seconds");
  }
  auto measured = Measure(o, root, gpu.get(), device, description);
  if (!measured.ok()) {
    std::fprintf(stderr, "pccheck tune: %s\n", measured.status().ToString().c_str());
    return kExitFailed;
  }
  const TuneInputs in = Inputs(o, *measured);
  auto advice = Recommend(in);
  if (!advice.ok()) {
    std::fprintf(stderr, "pccheck tune: %s\n", advice.status().message().c_str());
    return advice.status().code() == Code::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  if (o.print_config) {
    std::fputs(ConfigText(o, *advice).c_str(), stdout);
  } else if (o.json) {
    PrintJson(o, root, in, *advice, *measured);
  } else {
    PrintText(o, root, in, *advice, *measured);
  }
  std::fflush(stdout);
  if (!advice->feasible) {
    std::fprintf(stderr,
                 "pccheck tune: no checkpoint interval up to %llu iterations keeps the "
                 "slowdown within %s (see the reasons above)\n",
                 static_cast<unsigned long long>(in.max_interval), Pct(o.budget).c_str());
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace pccheck::cli
