#include "engine/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "base/crc32c.h"
#include "engine/commit.h"
#include "engine/restore.h"
#include "stage_timer.h"

namespace pccheck {

namespace {}  // namespace

void Checkpoint::Fail(const Status& s) {
  std::lock_guard lock(mu);
  if (error.ok()) error = s;
  cancelled = true;
}

Status Checkpoint::Error() {
  std::lock_guard lock(mu);
  return error;
}

Pipeline::Pipeline(const EngineOptions& options, FileSystem* fs, Gpu* gpu, ChunkPool* pool,
                   const Clock* clock, Liveness* liveness)
    : options_(options),
      fs_(fs),
      gpu_(gpu),
      pool_(pool),
      clock_(clock),
      write_rate_(clock->NowMicros()),
      copy_rate_(clock->NowMicros()) {
  auto watch = [liveness](std::string name) {
    return liveness ? liveness->Add(std::move(name)) : Liveness::Worker();
  };
  threads_.emplace_back([this, w = watch("copy thread")]() mutable { CopyLoop(std::move(w)); });
  for (int i = 0; i < options_.writers; ++i) {
    threads_.emplace_back([this, w = watch("writer " + std::to_string(i + 1))]() mutable {
      WriterLoop(std::move(w));
    });
  }
  threads_.emplace_back([this, w = watch("commit thread")]() mutable { CommitLoop(std::move(w)); });
  if (options_.policy == Policy::kCoalesce) {  // the memory tier's stage
    for (int i = 0; i < options_.ChecksumThreadCount(); ++i) {
      threads_.emplace_back(
          [this, w = watch("checksum thread " + std::to_string(i + 1))]() mutable {
            ChecksumLoop(std::move(w));
          });
    }
    threads_.emplace_back([this, w = watch("turn thread")]() mutable { TurnLoop(std::move(w)); });
  }
}

Pipeline::~Pipeline() { Stop(0); }

void Pipeline::Submit(std::shared_ptr<Checkpoint> ckpt) {
  ckpt->submitted_us = clock_->NowMicros();
  const SlotStore* gated = ckpt->gated ? ckpt->store : nullptr;
  {
    std::lock_guard lock(mu_);
    active_.push_back(ckpt);
    if (gated) tiers_[gated].pending.push_back(ckpt);
    copy_queue_.push_back(std::move(ckpt));
  }
  copy_cv_.notify_one();
  if (gated) RequestAdvance(gated);
}

int Pipeline::active() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(active_.size());
}

void Pipeline::Cancel(const std::shared_ptr<SaveHandle>& handle, const Status& why) {
  std::vector<std::shared_ptr<Checkpoint>> waiting;
  {
    std::lock_guard lock(mu_);
    for (auto& c : active_) {
      if (c->handle != handle) continue;
      c->Fail(why);
      if (c->gated && !c->writing) waiting.push_back(c);
    }
  }
  commit_cv_.notify_all();  // a newer save may have waited for this one
  for (auto& c : waiting) DropWaiting(c);
  pool_->Kick();
}

std::vector<InflightInfo> Pipeline::Inflight() const {
  std::lock_guard lock(mu_);
  std::vector<InflightInfo> out;
  const uint64_t now = clock_->NowMicros();
  for (const auto& c : active_) {
    const SaveHandle& h = *c->handle;
    InflightInfo i;
    i.job = c->request.job;
    i.rank = c->request.rank;
    i.step = c->request.step;
    i.bytes_total = h.bytes_total();
    i.bytes_copied = h.bytes_copied();
    i.bytes_written = h.bytes_written();
    i.snapshot_done = h.snapshot_done();
    i.committing = c->committing.load();
    i.elapsed_s = static_cast<double>(now - std::min(now, c->submitted_us)) / 1e6;
    out.push_back(std::move(i));
  }
  return out;
}

void Pipeline::Stop(uint64_t deadline_us) {
  std::unique_lock lock(mu_);
  if (threads_.empty()) return;
  idle_cv_.wait_for(lock, std::chrono::microseconds(deadline_us), [&] { return active_.empty(); });
  if (!active_.empty()) {
    spdlog::warn(
        "shutting down with {} checkpoint(s) still in flight; abandoning them (latest is "
        "unchanged by them)",
        active_.size());
    for (auto& c : active_) c->Fail(Status::Aborted("abandoned: the engine is shutting down"));
  }
  abandon_ = true;
  std::vector<std::shared_ptr<Checkpoint>> waiting;
  for (auto& c : active_) {
    if (c->gated && !c->writing) waiting.push_back(c);
  }
  lock.unlock();
  for (auto& c : waiting) DropWaiting(c);
  pool_->Kick();
  lock.lock();
  // Abandoned saves drain quickly: their remaining chunks are skipped.
  idle_cv_.wait(lock, [&] { return active_.empty(); });
  stopping_ = true;
  lock.unlock();
  copy_cv_.notify_all();
  write_cv_.notify_all();
  commit_cv_.notify_all();
  check_cv_.notify_all();
  turn_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Pipeline::WriterLoop(Liveness::Worker live) {
  for (;;) {
    WriteTask task;
    live.Park();
    {
      std::unique_lock lock(mu_);
      write_cv_.wait(lock, [&] { return stopping_ || !write_queue_.empty(); });
      if (write_queue_.empty()) return;
      task = std::move(write_queue_.front());
      write_queue_.pop_front();
    }
    live.Busy("waiting for a chunk's copy to the host");
    Checkpoint& c = *task.ckpt;
    AwaitCopy(task);
    Status s;
    if (!c.cancelled) {
      live.Busy("checksumming and writing a chunk");
      if (!task.checked) {
        StageTimer t(clock_, &counters_.crc_us);
        c.manifest.chunk_crcs[task.index] = Crc32c(task.buf, task.len);
        task.checked = true;
      }
      {
        StageTimer t(clock_, &counters_.write_us);
        s = c.data->WriteAt(task.buf, AlignUp(task.len, kDirectAlign),
                            task.index * options_.chunk_bytes);
      }
      if (s.ok()) {
        c.handle->AddWritten(task.len);
        counters_.bytes_written += task.len;
        write_rate_.Add(clock_->NowMicros(), task.len);
      } else {
        c.Fail(s.Annotate("writing chunk " + std::to_string(task.index) + " of step " +
                          std::to_string(c.request.step)));
      }
    }
    if (options_.keep_resident && s.ok() && !c.cancelled) {
      c.resident[task.index] = pool_->ReleaseResident(task.buf);
    } else {
      pool_->Release(task.buf);
    }
    ChunkFinished(task.ckpt, 1);
  }
}

void Pipeline::AwaitCopy(ChunkTask& task) {
  if (task.copied) return;
  Checkpoint& c = *task.ckpt;
  Status s;
  if (!task.fences.empty()) {
    StageTimer t(clock_, &counters_.fence_wait_us);
    for (const Fence& f : task.fences) {
      Status w = gpu_->Wait(f);
      if (s.ok()) s = w;
    }
  }
  if (!s.ok()) c.Fail(s.Annotate("copying chunk " + std::to_string(task.index)));
  task.fences.clear();
  task.copied = true;
  CountCopied(c, task.len, s.ok());
}

void Pipeline::ChecksumLoop(Liveness::Worker live) {
  for (;;) {
    ChunkTask task;
    live.Park();
    {
      std::unique_lock lock(mu_);
      check_cv_.wait(lock, [&] { return stopping_ || !check_queue_.empty(); });
      if (check_queue_.empty()) return;
      task = std::move(check_queue_.front());
      check_queue_.pop_front();
    }
    live.Busy("checksumming a chunk of a snapshot in memory");
    AwaitCopy(task);
    if (!task.ckpt->cancelled) {
      StageTimer t(clock_, &counters_.crc_us);
      task.ckpt->manifest.chunk_crcs[task.index] = Crc32c(task.buf, task.len);
      task.checked = true;
    }
    ParkOrWrite(std::move(task));
  }
}

void Pipeline::CountCopied(Checkpoint& c, uint64_t len, bool ok) {
  c.handle->AddCopied(len);
  if (ok) {
    counters_.bytes_copied += len;
    copy_rate_.Add(clock_->NowMicros(), len);
  }
  ChunkCopied(c, 1);
}

void Pipeline::ChunkCopied(Checkpoint& c, uint64_t n) {
  if (c.to_copy.fetch_sub(n) == n) c.handle->MarkSnapshot();
}

void Pipeline::ChunkFinished(const std::shared_ptr<Checkpoint>& ckpt, uint64_t n) {
  if (ckpt->to_write.fetch_sub(n) != n) return;
  ckpt->committing = !ckpt->cancelled;  // a cancelled save is only being retired
  bool turn_free = false;
  {
    std::lock_guard lock(mu_);
    commit_queue_.push_back(ckpt);
    tier_cv_.notify_all();  // Supersede waits for coalesced saves' chunks
    if (ckpt->gated) {
      auto it = tiers_.find(ckpt->store);
      if (it != tiers_.end() && it->second.writing == ckpt) {
        // Every chunk is written: the next save's writes overlap this commit.
        it->second.writing.reset();
        turn_free = true;
      }
    }
  }
  commit_cv_.notify_one();
  if (turn_free) RequestAdvance(ckpt->store);
}

void Pipeline::CommitLoop(Liveness::Worker live) {
  for (;;) {
    std::shared_ptr<Checkpoint> ckpt;
    live.Park();
    {
      std::unique_lock lock(mu_);
      auto ready = commit_queue_.end();
      commit_cv_.wait(lock, [&] {
        ready = std::find_if(commit_queue_.begin(), commit_queue_.end(),
                             [&](const auto& c) { return !MustCommitAfterOlder(*c); });
        return ready != commit_queue_.end() || (stopping_ && commit_queue_.empty());
      });
      if (ready == commit_queue_.end()) return;
      ckpt = std::move(*ready);
      commit_queue_.erase(ready);
    }
    live.Busy("committing a save (data sync, manifest, latest)");
    Finalize(ckpt);
  }
}

// Without the memory tier every request is persisted (`block`, `skip`): a
// save whose chunks are all written commits only after the older saves of its
// store still in flight have committed or failed. Otherwise a writer slow on
// an older save's last chunk would let the newer one commit first, and newest
// wins would then abandon the older, written in full. The memory tier writes
// one save per store at a time and coalesces by design. A failed or cancelled
// older save holds nothing back.
bool Pipeline::MustCommitAfterOlder(const Checkpoint& c) const {
  if (c.gated || c.cancelled) return false;
  return std::any_of(active_.begin(), active_.end(), [&](const auto& other) {
    return other.get() != &c && other->store == c.store && !other->gated && !other->cancelled &&
           other->request.step < c.request.step;
  });
}

void Pipeline::Finalize(const std::shared_ptr<Checkpoint>& ckpt) {
  Checkpoint& c = *ckpt;
  if (c.cancelled) {
    if (c.has_slot) c.store->AbandonSave(c.manifest.slot);
    Retire(ckpt, c.Error());
    return;
  }
  Status s;
  {
    StageTimer t(clock_, &counters_.commit_us);
    s = CommitCheckpoint(fs_, c.store, c.data.get(), c.manifest);
  }
  ++counters_.commits_timed;
  if (s.ok()) {
    // Newest wins: older saves of this store can never become latest now.
    std::lock_guard lock(mu_);
    for (auto& other : active_) {
      if (other->store == c.store && other->request.step < c.request.step) {
        other->Fail(Status::Aborted("step " + std::to_string(other->request.step) +
                                    " superseded by step " + std::to_string(c.request.step)));
      }
    }
  }
  pool_->Kick();
  Retire(ckpt, s);
}

void Pipeline::Retire(const std::shared_ptr<Checkpoint>& ckpt, const Status& s) {
  ckpt->data.reset();
  KeepResident(ckpt, s.ok());
  bool coalesced = false;
  {
    std::lock_guard lock(mu_);
    coalesced = ckpt->coalesced;
    active_.remove(ckpt);
    commit_cv_.notify_all();  // a newer save of the store may commit now
    if (ckpt->gated) {
      auto& tier = tiers_[ckpt->store];
      if (coalesced) {
        ++tier.coalesced;
      } else if (s.ok()) {
        ++tier.committed;
      }
    }
  }
  if (coalesced) {
    ++counters_.coalesced;
  } else if (s.ok()) {
    ++counters_.committed;
  } else if (s.code() == Code::kAborted) {
    ++counters_.superseded;
  } else {
    ++counters_.failed;
    NoteError(s);
  }
  ckpt->handle->MarkDone(coalesced ? Status::Ok() : s, coalesced);
  idle_cv_.notify_all();
  // A turn that found every slot in flight is retried once one is free.
  if (ckpt->gated) RequestAdvance(ckpt->store);
}

void Pipeline::KeepResident(const std::shared_ptr<Checkpoint>& ckpt, bool committed) {
  if (!options_.keep_resident) return;
  Checkpoint& c = *ckpt;
  const bool whole = std::all_of(c.resident.begin(), c.resident.end(),
                                 [](const ChunkRef& r) { return r.chunk != nullptr; });
  std::vector<ChunkRef> drop;
  if (committed && whole) {
    auto r = std::make_shared<Resident>();
    r->manifest = c.manifest;
    r->refs = std::move(c.resident);
    std::lock_guard lock(mu_);
    auto& slot = resident_[c.store];
    if (slot) drop = slot->refs;
    slot = std::move(r);
  } else {
    for (const ChunkRef& r : c.resident) {
      if (r.chunk != nullptr) drop.push_back(r);
    }
    if (committed) {  // the older resident copy is not the newest any more
      std::lock_guard lock(mu_);
      auto it = resident_.find(c.store);
      if (it != resident_.end()) {
        drop.insert(drop.end(), it->second->refs.begin(), it->second->refs.end());
        resident_.erase(it);
      }
    }
  }
  pool_->Forget(drop);
}

bool Pipeline::RestoreResident(const SlotStore* store, uint64_t step,
                               const std::map<std::string, TensorDest>& dests, RestoreResult* out) {
  std::shared_ptr<const Resident> r;
  {
    std::lock_guard lock(mu_);
    auto it = resident_.find(store);
    if (it == resident_.end() || it->second->manifest.step != step) return false;
    r = it->second;
  }
  if (!pool_->Pin(r->refs)) return false;  // evicted, at least in part
  std::vector<const uint8_t*> chunks;
  for (const ChunkRef& ref : r->refs) chunks.push_back(ref.chunk);
  Status s = RestoreFromChunks(gpu_, r->manifest, chunks, dests, options_.ChecksumThreadCount());
  pool_->Unpin(r->refs);
  if (!s.ok()) {
    if (s.code() != Code::kCorruption) return false;  // the disk path reports it alike
    spdlog::warn("resident copy of step {} failed verification ({}); reading the disk", step,
                 s.message());
    return false;
  }
  out->step = r->manifest.step;
  out->user_blob = r->manifest.user_blob;
  out->tensors = r->manifest.tensors;
  out->bytes_read = r->manifest.data_bytes;
  out->source = "memory";
  return true;
}

void Pipeline::RecordFailure(const Status& s) {
  ++counters_.failed;
  NoteError(s);
}

void Pipeline::RecordSkipped(const SlotStore* store) {
  ++counters_.skipped;
  std::lock_guard lock(mu_);
  ++tiers_[store].skipped;
}

Status Pipeline::PrepareSlot(Checkpoint& c, Policy policy) {
  PCC_ASSIGN_OR_RETURN(uint32_t slot,
                       c.store->BeginSave(c.request.step, options_.max_inflight, policy));
  c.manifest.slot = slot;
  OpenOptions oo;
  oo.create = true;
  oo.write = true;
  oo.direct = options_.direct_io;
  auto file = fs_->Open(c.store->DataPath(slot), oo);
  Status s = file.status();
  if (s.ok()) s = file.value()->Allocate(AlignUp(c.manifest.data_bytes, kDirectAlign));
  if (!s.ok()) {
    c.store->AbandonSave(slot);
    return s.Annotate("preparing slot " + std::to_string(slot) + " for step " +
                      std::to_string(c.request.step));
  }
  c.data = std::move(file).value();
  c.has_slot = true;
  return Status::Ok();
}

void Pipeline::NoteError(const Status& s) {
  spdlog::error("{}", s.ToString());
  std::lock_guard lock(mu_);
  recent_errors_.push_back(s.ToString());
  if (recent_errors_.size() > 16) recent_errors_.pop_front();
}

double Pipeline::RecentWriteRate() const { return write_rate_.BytesPerSecond(clock_->NowMicros()); }

double Pipeline::RecentCopyRate() const { return copy_rate_.BytesPerSecond(clock_->NowMicros()); }

std::vector<std::string> Pipeline::RecentErrors() const {
  std::lock_guard lock(mu_);
  return {recent_errors_.begin(), recent_errors_.end()};
}

}  // namespace pccheck
