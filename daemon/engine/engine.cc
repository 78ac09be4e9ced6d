#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

#include "engine/chunk_pool.h"
#include "engine/pipeline.h"
#include "engine/restore.h"
#include "engine/slot_store.h"

namespace pccheck {

// ---- Engine -----------------------------------------------------------------

namespace {

// Checks the tensor table and packs the tensors in order into one stream.
Result<uint64_t> PackTensors(std::vector<TensorSource>& tensors) {
  std::set<std::string> names;
  uint64_t offset = 0;
  for (auto& t : tensors) {
    if (t.meta.name.empty() || t.meta.name.size() > kMaxNameBytes) {
      return Status::InvalidArgument("tensor name '" + t.meta.name + "' is empty or too long");
    }
    if (!names.insert(t.meta.name).second) {
      return Status::InvalidArgument("tensor name '" + t.meta.name + "' appears twice");
    }
    if (t.meta.bytes > 0 && t.data == nullptr) {
      return Status::InvalidArgument("tensor '" + t.meta.name + "' has no data pointer");
    }
    if (t.meta.shape.size() > kMaxDims) {
      return Status::InvalidArgument("tensor '" + t.meta.name + "' has more than " +
                                     std::to_string(kMaxDims) + " dimensions");
    }
    if (offset + t.meta.bytes < offset) return Status::InvalidArgument("tensor sizes overflow");
    t.meta.offset = offset;
    offset += t.meta.bytes;
  }
  return offset;
}

}  // namespace

const char* PolicyName(Policy p) {
  switch (p) {
    case Policy::kCoalesce:
      return "coalesce";
    case Policy::kBlock:
      return "block";
    case Policy::kSkip:
      return "skip";
  }
  return "?";
}

Result<Policy> ParsePolicy(const std::string& s) {
  if (s == "coalesce") return Policy::kCoalesce;
  if (s == "block") return Policy::kBlock;
  if (s == "skip") return Policy::kSkip;
  return Status::InvalidArgument("policy '" + s + "' is not 'coalesce', 'block' or 'skip'");
}

int EngineOptions::ChecksumThreadCount() const {
  if (checksum_threads > 0) return checksum_threads;
  // Half the cores: the other half is the trainer's data loading and ours.
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores / 2, 1, 8);
}

Status EngineOptions::Validate() const {
  if (root.empty()) return Status::InvalidArgument("root: the store directory is not set");
  if (chunk_bytes < 4096 || chunk_bytes % 4096 != 0 || chunk_bytes > kMaxChunkBytes) {
    return Status::InvalidArgument("chunk: " + std::to_string(chunk_bytes) +
                                   " is not a multiple of 4096 between 4 KiB and 2 GiB");
  }
  if (pool_bytes < chunk_bytes) {
    return Status::InvalidArgument("pool: " + std::to_string(pool_bytes) +
                                   " bytes is smaller than one chunk (" +
                                   std::to_string(chunk_bytes) + ")");
  }
  if (writers < 1 || writers > 256) {
    return Status::InvalidArgument("writers: " + std::to_string(writers) + " is not in 1..256");
  }
  if (checksum_threads < 0 || checksum_threads > 256) {
    return Status::InvalidArgument("checksum-threads: " + std::to_string(checksum_threads) +
                                   " is not in 0..256 (0: half the online cores, 1 to 8)");
  }
  if (max_inflight < 1 || max_inflight > 64) {
    return Status::InvalidArgument("max-inflight: " + std::to_string(max_inflight) +
                                   " is not in 1..64");
  }
  return Status::Ok();
}

Engine::Engine(const EngineOptions& options, FileSystem* fs, Gpu* gpu, const Clock* clock)
    : options_(options), fs_(fs), gpu_(gpu), clock_(clock) {}

Engine::~Engine() { Shutdown(); }

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options, FileSystem* fs, Gpu* gpu,
                                             const Clock* clock, Liveness* liveness) {
  PCC_RETURN_IF_ERROR(options.Validate());
  if (options.read_only) {
    if (!fs->Exists(options.root)) {
      return Status::NotFound("no store at " + options.root +
                              " (check --root; a store is created by the first save)");
    }
  } else {
    PCC_RETURN_IF_ERROR(fs->CreateDirs(options.root).Annotate("creating the store root"));
  }
  auto engine = std::unique_ptr<Engine>(new Engine(options, fs, gpu, clock));
  // Recover every store now, so a crash's leftovers are cleaned at start-up.
  // One that cannot be read is set aside, never the reason to serve nothing.
  auto jobs = fs->List(options.root);
  if (!jobs.ok()) {
    return jobs.status().Annotate("the store root " + options.root +
                                  " cannot be listed: make it readable by this user");
  }
  for (const auto& job : *jobs) {
    if (!job.is_dir || !ValidateJobName(job.name).ok()) continue;
    const std::string job_dir = JoinPath(options.root, job.name);
    auto ranks = fs->List(job_dir);
    if (!ranks.ok()) {
      engine->SetAside(job.name, std::nullopt, job_dir,
                       job_dir + " cannot be listed (" + ranks.status().message() +
                           "), so none of the ranks of job " + job.name +
                           " is served: make the directory readable, or move it out of the "
                           "store");
      continue;
    }
    for (const auto& r : *ranks) {
      auto rank = ParseRankDirName(r.name);
      if (!r.is_dir || !rank) continue;
      auto store = engine->StoreFor(job.name, *rank, false);
      if (!store.ok()) {
        engine->SetAside(job.name, rank, JoinPath(job_dir, r.name), store.status().message());
      }
    }
  }
  PCC_ASSIGN_OR_RETURN(engine->pool_,
                       ChunkPool::Create(gpu, options.pool_bytes, options.chunk_bytes));
  engine->pipeline_ =
      std::make_unique<Pipeline>(engine->options_, fs, gpu, engine->pool_.get(), clock, liveness);
  return engine;
}

Result<SlotStore*> Engine::StoreFor(const std::string& job, uint32_t rank, bool create) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(job, rank);
  auto it = stores_.find(key);
  if (it != stores_.end()) return it->second.get();
  PCC_ASSIGN_OR_RETURN(
      auto store,
      SlotStore::Open(fs_, options_.root, job, rank, options_.max_inflight + 1,
                      create && !options_.read_only, options_.read_only, options_.keep_every));
  SlotStore* raw = store.get();
  stores_.emplace(key, std::move(store));
  unreadable_.erase({job, rank});  // repaired since Open
  return raw;
}

void Engine::SetAside(const std::string& job, std::optional<uint32_t> rank, const std::string& path,
                      const std::string& why) {
  spdlog::error("{}; every other job and rank is served", why);
  std::lock_guard lock(mu_);
  unreadable_[{job, rank}] = UnreadableDir{job, rank, path, why};
}

std::vector<UnreadableDir> Engine::Unreadable() {
  std::lock_guard lock(mu_);
  std::vector<UnreadableDir> out;
  for (const auto& [key, u] : unreadable_) out.push_back(u);
  return out;
}

Result<std::shared_ptr<SaveHandle>> Engine::Save(SaveRequest request) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return Status::Unavailable("the engine is shutting down");
  }
  if (options_.read_only) {
    return Status::InvalidArgument("the store at " + options_.root + " is open read-only");
  }
  PCC_ASSIGN_OR_RETURN(uint64_t bytes, PackTensors(request.tensors));
  if (request.user_blob.size() > kMaxUserBlobBytes) {
    return Status::InvalidArgument("user blob of " + std::to_string(request.user_blob.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(kMaxUserBlobBytes));
  }
  PCC_ASSIGN_OR_RETURN(SlotStore * store, StoreFor(request.job, request.rank, true));
  const std::string what = "checkpoint of step " + std::to_string(request.step);
  const std::optional<uint64_t> latest = store->latest_step();
  if (latest && *latest >= request.step) {
    // BeginSave says the same; checked first so that nothing is reclaimed
    // for a save that cannot be taken.
    return Status::InvalidArgument(
        "step " + std::to_string(request.step) + " is not newer than the latest committed step " +
        std::to_string(*latest) + " of job " + request.job + " rank " +
        std::to_string(request.rank) + "; newest wins, so it could never become latest");
  }
  if (const uint64_t base = latest.value_or(0);
      options_.max_step_jump > 0 && request.step - base > options_.max_step_jump) {
    return Status::InvalidArgument(
        "step " + std::to_string(request.step) + " is " + std::to_string(request.step - base) +
        " steps past " +
        (latest ? "the latest committed step " + std::to_string(base)
                : std::string("step 0 (nothing committed yet)")) +
        " of job " + request.job + " rank " + std::to_string(request.rank) +
        ", more than max-step-jump allows (" + std::to_string(options_.max_step_jump) +
        "); a step this far ahead is usually a bug, and once committed no smaller step could "
        "follow it. Raise max-step-jump (0: no bound) if steps really grow this fast");
  }

  auto ckpt = std::make_shared<Checkpoint>();
  ckpt->store = store;
  Manifest& m = ckpt->manifest;
  m.job = request.job;
  m.rank = request.rank;
  m.step = request.step;
  m.wall_time = clock_->WallSeconds();
  m.data_bytes = bytes;
  m.chunk_bytes = options_.chunk_bytes;
  for (const auto& t : request.tensors) m.tensors.push_back(t.meta);
  m.chunk_crcs.assign(m.chunk_count(), 0);
  m.user_blob = std::move(request.user_blob);
  if (const uint64_t record = ManifestRecordBytes(m); record > kMaxManifestBytes) {
    // Readers refuse a larger manifest as damage: never write one.
    return Status::InvalidArgument(
        what + " refused: its manifest would take " + std::to_string(record) +
        " bytes, more than the " + std::to_string(kMaxManifestBytes) + " a manifest may (" +
        std::to_string(m.tensors.size()) + " tensors, " + std::to_string(m.chunk_crcs.size()) +
        " chunks): save fewer tensors or raise --chunk");
  }
  ckpt->chunks = m.chunk_count();
  ckpt->to_copy = ckpt->chunks;
  ckpt->to_write = ckpt->chunks;
  ckpt->kept = options_.keep_every > 0 && request.step % options_.keep_every == 0;
  if (options_.keep_resident) ckpt->resident.resize(ckpt->chunks);

  // Admission by bytes, decided before anything is copied.
  const Policy policy = options_.policy;
  const uint64_t chunks = ckpt->chunks;
  if (chunks > pool_->chunk_count() && policy == Policy::kSkip) {
    pipeline_->RecordSkipped(store);
    return Status::Busy(
        what + " skipped: its " + std::to_string(bytes) + " bytes exceed the whole pinned pool (" +
        std::to_string(pool_->chunk_count() * pool_->chunk_bytes()) + " bytes); raise --pool");
  }
  if (chunks > 0 && chunks <= pool_->chunk_count()) {
    if (policy == Policy::kCoalesce) pipeline_->Supersede(store);
    bool reserved = pool_->TryReserve(chunks);
    // A GPU trainer's host runs ahead of its copies (the update waits on the
    // device, not on the host), so the previous snapshot may still be landing:
    // it is superseded once complete, which takes copy time, not disk time.
    while (!reserved && policy == Policy::kCoalesce && pipeline_->AwaitCopying(store)) {
      pipeline_->Supersede(store);
      reserved = pool_->TryReserve(chunks);
    }
    if (!reserved) {
      if (policy == Policy::kSkip) {
        pipeline_->RecordSkipped(store);
        return Status::Busy(
            what + " skipped: the pinned pool cannot take its " + std::to_string(bytes) +
            " bytes whole now (" + std::to_string(pool_->free_count() * pool_->chunk_bytes()) +
            " bytes free of " + std::to_string(pool_->chunk_count() * pool_->chunk_bytes()) +
            "); raise --pool or checkpoint less often");
      }
      if (!pool_->Reserve(chunks, [this] { return closing_.load(); })) {
        return Status::Unavailable("the engine is shutting down");
      }
    }
    ckpt->reserved = true;
    ckpt->reserve_left = chunks;
    ckpt->gated = policy == Policy::kCoalesce;
  }
  ckpt->handle = std::make_shared<SaveHandle>(request.step, bytes);
  ckpt->request = std::move(request);
  if (!ckpt->gated) {
    // Memory-tier saves take their slot when their write turn comes.
    // A snapshot larger than the pool streams, as with `block`.
    Status s =
        pipeline_->PrepareSlot(*ckpt, policy == Policy::kSkip ? Policy::kSkip : Policy::kBlock);
    if (!s.ok()) {
      if (ckpt->reserved) pool_->Unreserve(chunks);
      const Code code = s.code();
      if (code == Code::kBusy) {
        pipeline_->RecordSkipped(store);
      } else if (code != Code::kInvalidArgument) {
        pipeline_->RecordFailure(s);
      }
      return s;
    }
  }
  auto handle = ckpt->handle;
  pipeline_->Submit(std::move(ckpt));
  return handle;
}

Result<RestoreResult> Engine::Restore(const std::string& job, uint32_t rank,
                                      std::optional<uint64_t> step,
                                      const std::map<std::string, TensorDest>& dests) {
  PCC_ASSIGN_OR_RETURN(SlotStore * store, StoreFor(job, rank, false));
  RestoreResult from_memory;
  // A complete snapshot in memory newer than anything durable comes first.
  if (pipeline_->RestoreSnapshot(store, step, store->latest_step(), dests, &from_memory)) {
    return from_memory;
  }
  const std::optional<uint64_t> want = step ? step : store->latest_step();
  if (want && pipeline_->RestoreResident(store, *want, dests, &from_memory)) return from_memory;
  return RestoreFromStore(fs_, gpu_, *store, options_, step, dests);
}

Status Engine::Verify(const std::string& job, uint32_t rank, uint64_t step,
                      const std::function<void(uint64_t)>& progress) {
  // Always the disk: a resident copy says nothing about what is stored.
  PCC_ASSIGN_OR_RETURN(SlotStore * store, StoreFor(job, rank, false));
  return RestoreFromStore(fs_, gpu_, *store, options_, step, {}, progress).status();
}

Result<std::vector<PrunedInfo>> Engine::Prune(const PruneRequest& request) {
  if (options_.read_only) {
    return Status::InvalidArgument("the store at " + options_.root +
                                   " is open read-only: nothing can be pruned");
  }
  if (request.job) PCC_RETURN_IF_ERROR(ValidateJobName(*request.job));
  std::vector<SlotStore*> stores;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, s] : stores_) {
      if (request.job && key.first != *request.job) continue;
      if (request.rank && key.second != *request.rank) continue;
      if (request.job_filter && !request.job_filter(key.first)) continue;
      stores.push_back(s.get());
    }
  }
  if (stores.empty() && (request.job || request.rank)) {
    return Status::NotFound(
        "no checkpoints of " + (request.job ? "job " + *request.job : std::string("any job")) +
        (request.rank ? " rank " + std::to_string(*request.rank) : std::string()) + " in " +
        options_.root + " (`pccheck list` shows the jobs and ranks there)");
  }
  std::vector<PrunedInfo> out;
  for (SlotStore* s : stores) {
    PCC_ASSIGN_OR_RETURN(auto pruned, s->PruneKept(request.keep, request.dry_run));
    for (const auto& p : pruned) out.push_back({s->job(), s->rank(), p.step, p.bytes});
  }
  return out;
}

void Engine::Cancel(const std::shared_ptr<SaveHandle>& handle, const Status& why) {
  pipeline_->Cancel(handle, why);
}

std::vector<InflightInfo> Engine::Inflight() { return pipeline_->Inflight(); }

std::vector<CheckpointInfo> Engine::List() {
  std::vector<SlotStore*> stores;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, s] : stores_) stores.push_back(s.get());
  }
  std::vector<CheckpointInfo> out;
  for (SlotStore* s : stores) {
    for (const auto& v : s->Checkpoints()) {
      CheckpointInfo info;
      info.job = s->job();
      info.rank = s->rank();
      info.slot = v.slot;
      info.latest = v.latest;
      info.kept = v.kept;
      info.step = v.step;
      if (v.committed) {
        info.bytes = v.manifest->data_bytes;
        info.wall_time = v.manifest->wall_time;
        info.state = "committed";
      } else {
        info.state = "damaged: " + v.damage;
      }
      out.push_back(std::move(info));
    }
  }
  for (const UnreadableDir& u : Unreadable()) {
    CheckpointInfo info;
    info.job = u.job;
    info.rank = u.rank.value_or(0);
    info.state = kUnreadableDirState + u.why;
    out.push_back(std::move(info));
  }
  return out;
}

std::optional<uint64_t> Engine::LatestStep(const std::string& job, uint32_t rank) {
  auto store = StoreFor(job, rank, false);
  if (!store.ok()) return std::nullopt;
  return store.value()->latest_step();
}

std::vector<TierProgress> Engine::Progress() {
  std::vector<SlotStore*> stores;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, s] : stores_) stores.push_back(s.get());
  }
  std::vector<TierProgress> out;
  for (SlotStore* s : stores) {
    TierProgress p;
    p.job = s->job();
    p.rank = s->rank();
    p.newest_durable_step = s->latest_step();
    p.newest_snapshot_step = p.newest_durable_step;
    pipeline_->FillProgress(s, &p);
    out.push_back(std::move(p));
  }
  return out;
}

EngineStats Engine::Stats() {
  EngineStats st;
  st.chunk_bytes = options_.chunk_bytes;
  st.pool_bytes_total = pool_->chunk_count() * pool_->chunk_bytes();
  st.pool_bytes_free = pool_->free_count() * pool_->chunk_bytes();
  st.pool_locked = pool_->locked();
  auto& c = pipeline_->counters();
  st.saves_committed = c.committed;
  st.saves_failed = c.failed;
  st.saves_superseded = c.superseded;
  st.saves_coalesced = c.coalesced;
  st.saves_skipped = c.skipped;
  st.bytes_written = c.bytes_written;
  st.bytes_copied = c.bytes_copied;
  st.write_bytes_per_s_recent = pipeline_->RecentWriteRate();
  st.copy_bytes_per_s_recent = pipeline_->RecentCopyRate();
  st.inflight = pipeline_->active();
  st.recent_errors = pipeline_->RecentErrors();
  st.profile = {c.copy_us,  c.pool_wait_us, c.fence_wait_us, c.crc_us,
                c.write_us, c.commit_us,    c.commits_timed};
  return st;
}

void Engine::Shutdown(uint64_t deadline_us) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  closing_ = true;
  if (pool_) pool_->Kick();
  if (pipeline_) pipeline_->Stop(deadline_us);
}

}  // namespace pccheck
