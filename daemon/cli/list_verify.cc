// `pccheck list` and `pccheck verify`: offline looks at a store directory.
//
// Both open an Engine on the store with a tiny pool. Opening recovers the
// store (incomplete slots are cleaned), so they must not run against a store
// that a daemon or a bench is writing at the same time.
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/json.h"
#include "engine/engine.h"
#include "engine/size_parse.h"

namespace pccheck::cli {

namespace {

// Owns what the engine borrows; members go away in reverse order, engine first.
struct OfflineStore {
  std::unique_ptr<FileSystem> fs;
  std::unique_ptr<Gpu> gpu;
  std::unique_ptr<Engine> engine;
};

// Opens an existing store; never creates one where the user mistyped a path.
Result<OfflineStore> OpenExisting(const std::string& root) {
  OfflineStore store;
  store.fs = NewPosixFileSystem();
  if (root.empty() || !store.fs->Exists(root)) {
    return Status::NotFound("no checkpoint store at '" + root +
                            "': the directory does not exist. Pass --root with the directory "
                            "that `pccheck bench --root` or the daemon writes its store to");
  }
  store.gpu = NewFakeGpu();  // host memory is all these commands need
  EngineOptions eo;
  eo.root = root;
  eo.read_only = true;  // never clean up under a running daemon
  eo.chunk_bytes = 1ull << 20;
  eo.pool_bytes = 2 * eo.chunk_bytes;
  eo.writers = 2;
  PCC_ASSIGN_OR_RETURN(store.engine, Engine::Open(eo, store.fs.get(), store.gpu.get()));
  return store;
}

std::string FormatTime(int64_t wall_time) {
  const std::time_t t = static_cast<std::time_t>(wall_time);
  std::tm tm{};
  char buf[32];
  if (localtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, "%F %T", &tm) == 0) {
    return std::to_string(wall_time);
  }
  return buf;
}

std::string Name(const CheckpointInfo& c) {
  return c.job + " rank " + std::to_string(c.rank) + " step " + std::to_string(c.step);
}

bool IsCommitted(const CheckpointInfo& c) { return c.state == "committed"; }

void PrintTable(const std::vector<CheckpointInfo>& list) {
  std::printf("%-16s %5s %10s %10s %-20s %-10s %s\n", "JOB", "RANK", "STEP", "SIZE", "TIME",
              "STATE", "LATEST");
  for (const auto& c : list) {
    std::printf("%-16s %5u %10llu %10s %-20s %-10s %s\n", c.job.c_str(), c.rank,
                static_cast<unsigned long long>(c.step), FormatSize(c.bytes).c_str(),
                FormatTime(c.wall_time).c_str(), c.state.c_str(), c.latest ? "*" : "");
  }
}

void PrintJson(const std::vector<CheckpointInfo>& list) {
  std::string out = "[";
  for (const auto& c : list) {
    if (out.size() > 1) out += ",\n ";
    out += JsonObject()
               .Add("job", c.job)
               .Add("rank", c.rank)
               .Add("step", c.step)
               .Add("slot", c.slot)
               .Add("bytes", c.bytes)
               .Add("state", c.state)
               .Add("wall_time", c.wall_time)
               .Add("latest", c.latest)
               .str();
  }
  std::printf("%s]\n", out.c_str());
}

}  // namespace

int RunList(const ListOptions& o) {
  auto store = OpenExisting(o.root);
  if (!store.ok()) {
    std::fprintf(stderr, "pccheck list: %s\n", store.status().ToString().c_str());
    return store.status().code() == Code::kNotFound ? kExitUsage : kExitFailed;
  }
  const std::vector<CheckpointInfo> list = store->engine->List();
  if (o.json) {
    PrintJson(list);
  } else if (list.empty()) {
    std::printf("no checkpoints in %s\n", o.root.c_str());
  } else {
    PrintTable(list);
  }
  return kExitOk;
}

int RunVerify(const VerifyOptions& o) {
  auto store = OpenExisting(o.root);
  if (!store.ok()) {
    std::fprintf(stderr, "pccheck verify: %s\n", store.status().ToString().c_str());
    return store.status().code() == Code::kNotFound ? kExitUsage : kExitFailed;
  }
  const std::vector<CheckpointInfo> list = store->engine->List();
  int ok = 0;
  std::vector<std::string> bad_latest;
  std::vector<std::string> bad_older;
  for (const auto& c : list) {
    const Status s =
        IsCommitted(c) ? store->engine->Verify(c.job, c.rank, c.step) : Status::Corruption(c.state);
    const std::string tag = c.latest ? " (latest)" : "";
    if (s.ok()) {
      ++ok;
      std::printf("OK    %s%s, %s\n", Name(c).c_str(), tag.c_str(), FormatSize(c.bytes).c_str());
    } else {
      std::printf("FAIL  %s%s: %s\n", Name(c).c_str(), tag.c_str(), s.ToString().c_str());
      (c.latest ? bad_latest : bad_older).push_back(Name(c));
    }
  }
  if (list.empty()) {
    std::printf("no checkpoints in %s: nothing to verify\n", o.root.c_str());
    return kExitOk;
  }
  std::printf("%d of %zu checkpoints verify", ok, list.size());
  if (!bad_older.empty()) {
    std::printf("; %zu older ones do not (restore skips them)", bad_older.size());
  }
  if (!bad_latest.empty()) {
    std::printf("\n");
    std::fflush(stdout);
    for (const auto& name : bad_latest) {
      std::fprintf(stderr, "pccheck verify: the latest checkpoint %s is damaged\n", name.c_str());
    }
    return kExitFailed;
  }
  std::printf("; every latest checkpoint verifies\n");
  return kExitOk;
}

}  // namespace pccheck::cli
