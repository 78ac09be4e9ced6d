// `pccheck bench`: checkpoint throughput against the disk's write ceiling
// (io/disk_ceiling.h: the best of 1, 2, 4 and 8 parallel O_DIRECT streams at
// the engine's chunk size, over at least as many bytes as were persisted).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "base/json.h"
#include "base/size_parse.h"
#include "cli/bench_data.h"
#include "cli/command_args.h"
#include "cli/commands.h"
#include "cli/commit_reporter.h"
#include "cli/option_kinds.h"
#include "cli/subcommand.h"
#include "engine/engine.h"
#include "io/disk_ceiling.h"
#include "io/store_lock.h"

namespace pccheck::cli {

namespace {

// The engine's view of the bench tensors over `data`.
std::vector<TensorSource> Sources(const uint8_t* data, uint64_t size) {
  std::vector<TensorSource> sources;
  for (const BenchTensor& b : SplitIntoTensors(size)) {
    TensorSource t;
    t.meta.name = b.name;
    t.meta.dtype = "uint8";
    t.meta.shape = {static_cast<int64_t>(b.bytes)};
    t.meta.bytes = b.bytes;
    t.data = data + b.offset;
    sources.push_back(std::move(t));
  }
  return sources;
}

std::unique_ptr<Gpu> OpenGpu(std::string* description) {
  std::string why;
  std::unique_ptr<Gpu> gpu = NewCudaGpu(&why);
  if (gpu == nullptr) {
    gpu = NewFakeGpu();
    *description = gpu->Describe() + "; CUDA unusable: " + why;
  } else {
    *description = gpu->Describe();
  }
  return gpu;
}

// Seconds per stage; the writer stages also as a share of the writers' time.
std::string ProfileJson(const EngineProfile& p, int writers) {
  auto s = [](uint64_t us) { return static_cast<double>(us) / 1e6; };
  return JsonObject()
      .Add("copy_s", s(p.copy_us))
      .Add("pool_wait_s", s(p.pool_wait_us))
      .Add("fence_wait_s", s(p.fence_wait_us))
      .Add("crc_s", s(p.crc_us))
      .Add("write_s", s(p.write_us))
      .Add("commit_s", s(p.commit_us))
      .Add("commits", p.commits)
      .Add("writer_threads", writers)
      .str();
}

// The ceiling of `dir` for `bytes` in blocks of `block`, with progress on stderr.
Result<WriteCeiling> MeasureCeiling(FileSystem* fs, const std::string& dir, uint64_t bytes,
                                    uint64_t block) {
  std::fprintf(stderr,
               "bench: measuring the disk's write ceiling in %s: %s with 1, 2, 4 and 8 parallel "
               "O_DIRECT streams in %s blocks, fresh and rewritten...\n",
               dir.c_str(), FormatSize(bytes).c_str(), FormatSize(block).c_str());
  return MeasureWriteCeiling(fs, dir, bytes, block);
}

void PrintCeiling(const WriteCeiling& c) {
  const CeilingBest best = c.best(), fresh = c.fresh(), rewrite = c.rewrite();
  std::printf(
      "ceiling   %.3f GB/s  %d streams won: %s of %s writes in %s blocks, 1/2/4/8 streams\n",
      best.gbps, best.streams, FormatSize(c.bytes).c_str(),
      c.direct ? "O_DIRECT" : "buffered (O_DIRECT refused here)",
      FormatSize(c.block_bytes).c_str());
  std::printf("          fresh files %.3f GB/s (%d streams), rewritten %.3f GB/s (%d streams)\n",
              fresh.gbps, fresh.streams, rewrite.gbps, rewrite.streams);
}

// --raw-only: the ceiling alone, for size x count bytes.
int RunCeilingOnly(const BenchOptions& o) {
  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  if (Status s = fs->CreateDirs(o.root); !s.ok()) {
    std::fprintf(stderr, "pccheck bench: cannot create the directory: %s\n", s.ToString().c_str());
    return kExitFailed;
  }
  auto lock = StoreLock::TryAcquire(o.root, StoreLockHolder{::getpid(), "", "pccheck bench"});
  if (!lock.ok()) {
    std::fprintf(stderr, "pccheck bench: %s\n", lock.status().message().c_str());
    return kExitFailed;
  }
  auto raw = MeasureCeiling(fs.get(), o.root, o.size * o.count, o.chunk);
  if (!raw.ok()) {
    std::fprintf(stderr, "pccheck bench: %s\n", raw.status().ToString().c_str());
    return kExitFailed;
  }
  if (o.json) {
    JsonObject j;
    j.Add("raw_direct_gbps", raw->best().gbps);
    std::printf("%s\n", AddWriteCeilingFields(j, *raw).str().c_str());
  } else {
    PrintCeiling(*raw);
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

uint64_t DefaultBenchPool(uint64_t size, int inflight, uint64_t chunk) {
  if (chunk == 0) return 0;
  const uint64_t wanted = AlignUp(size, chunk) * static_cast<uint64_t>(std::max(inflight, 1));
  const uint64_t capped = std::min(wanted, AlignUp(2ull << 30, chunk));
  return std::max(capped, 2 * chunk);
}

int RunBench(const BenchOptions& o) {
  if (o.raw_only) return RunCeilingOnly(o);
  EngineOptions eo;
  eo.root = o.root;
  eo.chunk_bytes = o.chunk;
  eo.writers = o.writers;
  eo.max_inflight = o.inflight;
  eo.pool_bytes = o.pool != 0 ? o.pool : DefaultBenchPool(o.size, o.inflight, o.chunk);
  eo.policy = Policy::kBlock;
  eo.keep_every = o.keep_every;
  if (Status s = eo.Validate(); !s.ok()) {
    std::fprintf(stderr, "pccheck bench: %s\n", s.ToString().c_str());
    return kExitUsage;
  }

  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  // The bench writes the store (and its raw write test the directory): one
  // writer at a time, so not next to a daemon or another bench.
  if (Status s = fs->CreateDirs(o.root); !s.ok()) {
    std::fprintf(stderr, "pccheck bench: cannot create the store directory: %s\n",
                 s.ToString().c_str());
    return kExitFailed;
  }
  auto lock = StoreLock::TryAcquire(o.root, StoreLockHolder{::getpid(), "", "pccheck bench"});
  if (!lock.ok()) {
    std::fprintf(stderr, "pccheck bench: %s\n", lock.status().message().c_str());
    return kExitFailed;
  }
  std::string gpu_description;
  std::unique_ptr<Gpu> gpu = OpenGpu(&gpu_description);
  auto opened = Engine::Open(eo, fs.get(), gpu.get());
  if (!opened.ok()) {
    std::fprintf(stderr, "pccheck bench: cannot open the store at %s: %s\n", o.root.c_str(),
                 opened.status().ToString().c_str());
    return kExitFailed;
  }
  std::unique_ptr<Engine> engine = std::move(opened).value();

  auto buffer = std::make_unique_for_overwrite<uint8_t[]>(o.size);
  FillRandom(buffer.get(), o.size, o.size ^ 0x5eed);
  const std::vector<TensorSource> tensors = Sources(buffer.get(), o.size);
  const uint64_t first_step = engine->LatestStep(o.job, o.rank).value_or(0) + 1;
  std::fprintf(stderr, "bench: %llu checkpoints of %s from step %llu in %s (%s, pool %s, %s)\n",
               static_cast<unsigned long long>(o.count), FormatSize(o.size).c_str(),
               static_cast<unsigned long long>(first_step), o.root.c_str(), gpu_description.c_str(),
               FormatSize(eo.pool_bytes).c_str(),
               engine->Stats().pool_locked ? "pinned" : "not pinned");

  // Saving: the reporter prints each commit; Save blocks while `inflight` are in flight.
  CommitReporter reporter(/*progress=*/true);
  std::vector<std::shared_ptr<SaveHandle>> handles;
  bool submit_failed = false;
  for (uint64_t i = 0; i < o.count; ++i) {
    SaveRequest request;
    request.job = o.job;
    request.rank = o.rank;
    request.step = first_step + i;
    request.tensors = tensors;
    auto handle = engine->Save(std::move(request));
    if (!handle.ok()) {
      reporter.Done(first_step + i, handle.status());
      submit_failed = true;
      break;
    }
    const uint64_t step = first_step + i;
    handle.value()->SetOnDone([&reporter, step](const Status& s) { reporter.Done(step, s); });
    handles.push_back(handle.value());
  }
  for (auto& h : handles) reporter.Done(h->step(), h->Wait());  // no-op when already reported
  reporter.Finish();
  const CommitReporter::Counts counts = reporter.counts();
  const EngineProfile profile = engine->Stats().profile;
  engine->Shutdown();
  engine.reset();

  // The reference: the disk's ceiling for as many bytes, same directory.
  const uint64_t persisted = counts.committed * o.size;
  auto raw = MeasureCeiling(fs.get(), o.root, std::max(persisted, o.size), eo.chunk_bytes);
  if (!raw.ok()) {
    std::fprintf(stderr, "pccheck bench: %s\n", raw.status().ToString().c_str());
    return kExitFailed;
  }

  const double seconds = counts.last_commit_seconds;
  const double persist_gbps = Gbps(persisted, seconds);
  const double raw_gbps = raw->best().gbps;
  auto ratio = [persist_gbps](double reference) {
    return reference > 0 ? persist_gbps / reference : 0;
  };
  if (o.json) {
    JsonObject j;
    j.Add("persist_gbps", persist_gbps)
        .Add("raw_direct_gbps", raw_gbps)
        .Add("ratio", ratio(raw_gbps))
        .Add("ratio_fresh", ratio(raw->fresh().gbps))
        .Add("ratio_rewrite", ratio(raw->rewrite().gbps))
        .Add("checkpoints", counts.committed)
        .Add("superseded", counts.superseded)
        .Add("failed", counts.failed)
        .Add("bytes", persisted)
        .Add("checkpoint_bytes", o.size)
        .Add("seconds", seconds)
        .Add("first_step", first_step)
        .Add("chunk_bytes", eo.chunk_bytes)
        .Add("pool_bytes", eo.pool_bytes)
        .Add("writers", eo.writers)
        .Add("inflight", eo.max_inflight)
        .Add("keep_every", eo.keep_every);
    AddWriteCeilingFields(j, *raw)
        .Add("gpu", gpu_description)
        .Raw("profile", ProfileJson(profile, eo.writers));
    std::printf("%s\n", j.str().c_str());
  } else {
    std::printf(
        "persist   %.3f GB/s  %llu checkpoints, %s, %.2f s until the last commit\n"
        "ratio     %.2f       (persist / ceiling; 1.00 means checkpointing at the disk's speed)\n"
        "settings  chunk %s, pool %s, %d writers, %d in flight\n",
        persist_gbps, static_cast<unsigned long long>(counts.committed),
        FormatSize(persisted).c_str(), seconds, ratio(raw_gbps), FormatSize(eo.chunk_bytes).c_str(),
        FormatSize(eo.pool_bytes).c_str(), eo.writers, eo.max_inflight);
    PrintCeiling(*raw);
    if (counts.superseded > 0) {
      std::printf("note      %llu older checkpoints were superseded by newer ones in flight\n",
                  static_cast<unsigned long long>(counts.superseded));
    }
  }
  std::fflush(stdout);
  if (submit_failed || counts.failed > 0 || counts.committed == 0) {
    std::fprintf(stderr, "pccheck bench: %llu of %llu checkpoints failed (see above)\n",
                 static_cast<unsigned long long>(o.count - counts.committed - counts.superseded),
                 static_cast<unsigned long long>(o.count));
    return kExitFailed;
  }
  return kExitOk;
}

// The command line of `pccheck bench` (both modes, cli/command_args.h).
CLI::App* AddBench(CLI::App& app, BenchOptions* o) {
  const BenchOptions d;
  CLI::App* cmd = AddCommand(
      app, "bench", "Measure checkpoint throughput against the disk's write ceiling",
      "Saves COUNT checkpoints of SIZE random bytes through the engine as fast as it goes and\n"
      "prints `committed step=K` the moment each one commits; then measures the disk's write\n"
      "ceiling in the same directory: as many bytes written with 1, 2, 4 and 8 parallel\n"
      "O_DIRECT streams (a file each) in blocks of the chunk size, into fresh files and again\n"
      "over the written blocks; the best rate is the ceiling. That writes 8 x the bytes\n"
      "persisted, one stream count at a time (their size in free space at once). Summary:\n"
      "persist GB/s (checkpoint bytes / time until the last commit), the ceiling, which\n"
      "stream count reached it, and their ratio (raw_sweep in --json has every point).\n"
      "--raw-only measures the ceiling alone, for SIZE x COUNT bytes. Steps continue after\n"
      "the store's latest, so a bench can be rerun on the same store, also after being\n"
      "killed. It holds the store's lock while it runs: it is refused where a pccheckd or\n"
      "another bench is writing.\n\n"
      "With --socket PATH it measures a running pccheckd instead: --clients processes connect\n"
      "through libpccheck (ranks R..R+N-1 of --job), each saves COUNT checkpoints of SIZE\n"
      "random bytes from shared memory, and `committed step=K` (` rank=R` with several\n"
      "clients) is printed as each commits. Persist GB/s is all clients' bytes / time until\n"
      "the last commit. The summary adds the p50 and p99 of the time each save() call held\n"
      "its caller (save_hold_us_p50, save_hold_us_p99). The ceiling test goes to the\n"
      "daemon's store directory (from its status), so run it on the daemon's machine.\n",
      {"pccheck bench --root /mnt/nvme/ckpt --size 1G --count 20 --inflight 3",
       "pccheck bench --socket /run/pccheck/pccheckd.sock --size 1G --count 8 \\",
       "  --clients 4"});
  CLI::Option* root =
      cmd->add_option("--root", o->root,
                      "Store directory, created when missing; a rerun continues its steps "
                      "(offline: the bench runs the engine itself)")
          ->type_name("DIR");
  CLI::Option* socket =
      cmd->add_option("--socket", o->socket,
                      "Instead of --root: drive the pccheckd listening here, as its clients "
                      "(run on the daemon's machine: the ceiling test uses its store)")
          ->type_name("PATH")
          ->excludes(root);
  cmd->add_option(
         "--clients", o->clients,
         "With --socket: client processes saving at once, ranks R..R+N-1" + Default(d.clients))
      ->check(CLI::Range(1, 256))
      ->needs(socket)
      ->type_name("N");
  cmd->add_option("--every-ms", o->every_ms,
                  "With --socket: one trainer-shaped client that alternates MS ms of simulated "
                  "work (a sleep) with a save and a before_update, timing how long each held it")
      ->needs(socket)
      ->check(PositiveValidator())
      ->type_name("MS");
  cmd->add_option("--size", o->size, "Bytes per checkpoint, split into ~8 tensors of uneven sizes")
      ->required()
      ->transform(SizeValidator())
      ->type_name("SIZE");
  cmd->add_option("--count", o->count, "Checkpoints to save, one step each")
      ->required()
      ->check(PositiveValidator())
      ->type_name("N");
  const std::string inflight_default =
      Default(std::to_string(d.inflight) + "; with --socket, the daemon's max-inflight");
  cmd->add_option("--inflight", o->inflight,
                  "Checkpoints in flight at once, per client; a save waits while this many are" +
                      inflight_default)
      ->check(CLI::Range(1, 64))
      ->type_name("N");
  // The engine's settings: with --socket they are the daemon's, set where it starts.
  cmd->add_option("--chunk", o->chunk, "Pipeline chunk in bytes, a multiple of 4K" + Default("16M"))
      ->transform(SizeValidator())
      ->excludes(socket)
      ->type_name("SIZE");
  cmd->add_option("--writers", o->writers, "Writer threads" + Default(d.writers))
      ->check(CLI::Range(1, 256))
      ->excludes(socket)
      ->type_name("N");
  cmd->add_option("--pool", o->pool,
                  "Pinned host memory for chunks in bytes" +
                      Default("inflight x size, at most 2G, at least 2 chunks"))
      ->transform(SizeValidator())
      ->excludes(socket)
      ->type_name("SIZE");
  cmd->add_option("--job", o->job, "Job name the checkpoints are saved under" + Default(d.job))
      ->type_name("NAME");
  cmd->add_option(
         "--rank", o->rank,
         "Rank the checkpoints are saved under (with --clients, the first)" + Default(d.rank))
      ->type_name("R");
  cmd->add_option("--keep-every", o->keep_every,
                  "Retention: keep every checkpoint whose step is a multiple of K in kept/ "
                  "instead of overwriting it (pccheckd's keep-every)" +
                      Default("0, off"))
      ->excludes(socket)
      ->type_name("K");
  cmd->add_flag("--json", o->json, "Print the summary as one JSON object (GB = 1e9 bytes)");
  cmd->add_flag("--raw-only", o->raw_only,
                "Save nothing: measure only the disk's write ceiling in --root, for SIZE x "
                "COUNT bytes in --chunk blocks")
      ->excludes(socket);
  return cmd;
}

}  // namespace pccheck::cli
