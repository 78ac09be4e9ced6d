// The memory tier: with the `coalesce` policy a save's snapshot is admitted
// whole into the pool, copied at copy speed and checksummed, and then waits
// in memory for its store's write turn. One save per store is written at a
// time; when the turn frees (every chunk of the one being written is on
// disk; its commit then overlaps the next one's writes), it goes to
//
//   - the oldest waiting save that keep_every keeps, if any: such a step is
//     never coalesced away, and writing it before newer ones keeps the
//     commits in step order, so newest-wins never aborts it;
//   - else the newest waiting save; the older complete ones end coalesced
//     and their chunks are free for the next snapshot at once.
//
// A save being written is always finished, never abandoned for a newer one:
// abandoning restarts the disk's work from zero each time a snapshot arrives
// faster than one is written, so nothing would ever become durable
// (docs/design-notes.md, "The memory tier", has the measurements).
//
// A complete waiting snapshot is a recovery point: RestoreSnapshot serves it
// from its parked, checksummed chunks, newer than anything on disk.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/pipeline.h"
#include "engine/restore.h"

namespace pccheck {

void Pipeline::ParkOrWrite(ChunkTask task) {
  std::shared_ptr<Checkpoint> ckpt = task.ckpt;
  {
    std::lock_guard lock(mu_);
    if (!ckpt->writing && !ckpt->cancelled) {
      ckpt->parked.push_back(std::move(task));
      ++ckpt->parked_count;
      tier_cv_.notify_all();
      return;
    }
    if (ckpt->writing) write_queue_.push_back(std::move(task));
  }
  if (ckpt->writing) {
    write_cv_.notify_one();
    return;
  }
  // Cancelled or coalesced before its turn: its memory is free at once, not
  // behind writers that a slow disk holds (DropWaiting took the parked ones).
  pool_->Release(task.buf);
  ChunkFinished(ckpt, 1);
}

void Pipeline::DropWaiting(const std::shared_ptr<Checkpoint>& ckpt) {
  std::vector<ChunkTask> parked;
  {
    std::lock_guard lock(mu_);
    if (ckpt->writing) return;  // the writers release its chunks
    auto it = tiers_.find(ckpt->store);
    if (it != tiers_.end()) std::erase(it->second.pending, ckpt);
    parked.swap(ckpt->parked);
    // Its chunks still queued for the checksum thread need no checksum now:
    // taken here, so reclaiming them never waits behind other snapshots.
    for (auto t = check_queue_.begin(); t != check_queue_.end();) {
      if (t->ckpt == ckpt) {
        parked.push_back(std::move(*t));
        t = check_queue_.erase(t);
      } else {
        ++t;
      }
    }
    tier_cv_.notify_all();
  }
  for (ChunkTask& t : parked) {
    AwaitCopy(t);  // a queued device copy must land before its chunk is reused
    pool_->Release(t.buf);
    ChunkFinished(ckpt, 1);
  }
}

void Pipeline::Supersede(const SlotStore* store) {
  std::vector<std::shared_ptr<Checkpoint>> drop;
  Reclaim(store, &drop);
  // Their chunks still on the way to the checksum thread come back soon (no
  // disk involved): wait for every one, so the caller's admission sees them.
  std::unique_lock lock(mu_);
  tier_cv_.wait(lock, [&] {
    return std::all_of(drop.begin(), drop.end(), [](auto& c) { return c->to_write == 0; });
  });
}

bool Pipeline::AwaitCopying(const SlotStore* store) {
  std::vector<std::shared_ptr<SaveHandle>> copying;
  {
    std::lock_guard lock(mu_);
    auto it = tiers_.find(store);
    if (it == tiers_.end()) return false;
    for (auto& c : it->second.pending) {
      if (c->kept || c->readers > 0 || c->cancelled || c->handle->snapshot_done()) continue;
      copying.push_back(c->handle);
    }
  }
  for (auto& h : copying) h->WaitSnapshot();
  return !copying.empty();
}

void Pipeline::Reclaim(const SlotStore* store, std::vector<std::shared_ptr<Checkpoint>>* out) {
  std::vector<std::shared_ptr<Checkpoint>>& drop = *out;
  {
    std::lock_guard lock(mu_);
    auto it = tiers_.find(store);
    if (it == tiers_.end()) return;
    for (auto& c : it->second.pending) {
      if (c->kept || c->readers > 0 || c->cancelled || !c->handle->snapshot_done()) continue;
      c->coalesced = true;
      drop.push_back(c);
    }
  }
  for (auto& c : drop) {
    c->Fail(Status::Aborted("step " + std::to_string(c->request.step) +
                            " coalesced: a newer snapshot supersedes it"));
    DropWaiting(c);
  }
}

void Pipeline::RequestAdvance(const SlotStore* store) {
  {
    std::lock_guard lock(mu_);
    turn_queue_.push_back(store);
  }
  turn_cv_.notify_one();
}

void Pipeline::TurnLoop(Liveness::Worker live) {
  for (;;) {
    const SlotStore* store = nullptr;
    live.Park();
    {
      std::unique_lock lock(mu_);
      turn_cv_.wait(lock, [&] { return stopping_ || !turn_queue_.empty(); });
      if (turn_queue_.empty()) return;
      store = turn_queue_.front();
      turn_queue_.pop_front();
    }
    live.Busy("starting a snapshot's write turn (slot, data file)");
    Advance(store);
  }
}

void Pipeline::Advance(const SlotStore* store) {
  std::shared_ptr<Checkpoint> next;
  std::vector<std::shared_ptr<Checkpoint>> drop;
  {
    std::lock_guard lock(mu_);
    auto it = tiers_.find(store);
    if (it == tiers_.end()) return;
    StoreTier& tier = it->second;
    if (tier.writing || tier.starting || tier.pending.empty()) return;
    auto kept = std::find_if(tier.pending.begin(), tier.pending.end(),
                             [](const auto& c) { return c->kept && !c->cancelled; });
    auto chosen = kept != tier.pending.end() ? kept : std::prev(tier.pending.end());
    for (auto c = tier.pending.begin(); c != chosen; ++c) {
      if ((*c)->kept || (*c)->readers > 0 || (*c)->cancelled) continue;
      (*c)->coalesced = true;
      drop.push_back(*c);
    }
    if ((*chosen)->readers == 0) {
      next = *chosen;
      tier.pending.erase(chosen);
      tier.starting = true;
    }
  }
  for (auto& c : drop) {
    c->Fail(Status::Aborted("step " + std::to_string(c->request.step) +
                            " coalesced: a newer snapshot supersedes it"));
    DropWaiting(c);
  }
  if (!next) return;  // a restore reads it; its end advances again

  // Off the lock: the slot (retention may move a kept checkpoint) and file.
  Status s = next->cancelled ? Status::Ok() : PrepareSlot(*next, Policy::kCoalesce);
  if (s.code() == Code::kBusy) {
    // Every slot is in flight (a commit has not finished): retried when a
    // save of this store retires.
    std::lock_guard lock(mu_);
    StoreTier& tier = tiers_[store];
    tier.starting = false;
    tier.pending.push_front(next);
    return;
  }
  if (!s.ok()) next->Fail(s);
  std::vector<ChunkTask> parked;
  {
    std::lock_guard lock(mu_);
    StoreTier& tier = tiers_[store];
    tier.starting = false;
    tier.writing = next;
    next->writing = true;
    parked.swap(next->parked);
    for (ChunkTask& t : parked) write_queue_.push_back(std::move(t));
  }
  write_cv_.notify_all();
}

bool Pipeline::RestoreSnapshot(const SlotStore* store, std::optional<uint64_t> step,
                               std::optional<uint64_t> durable,
                               const std::map<std::string, TensorDest>& dests, RestoreResult* out) {
  std::shared_ptr<Checkpoint> c;
  std::vector<const uint8_t*> chunks;
  {
    std::unique_lock lock(mu_);
    auto it = tiers_.find(store);
    if (it == tiers_.end()) return false;
    StoreTier& tier = it->second;
    auto wanted = [&](const std::shared_ptr<Checkpoint>& x) {
      if (x->cancelled || !x->handle->snapshot_done()) return false;
      if (step) return x->request.step == *step;
      return !durable || x->request.step > *durable;
    };
    for (auto p = tier.pending.rbegin(); p != tier.pending.rend() && !c; ++p) {
      if (wanted(*p)) c = *p;
    }
    if (!c) {
      // The newest is being written: its end is bounded (one snapshot's
      // writes and a commit); after it the caller finds it committed.
      std::shared_ptr<SaveHandle> h;
      if (tier.writing && wanted(tier.writing)) h = tier.writing->handle;
      lock.unlock();
      if (h) (void)h->Wait();
      return false;
    }
    ++c->readers;
    tier_cv_.wait(lock, [&] { return c->cancelled || c->parked_count == c->chunks; });
    if (!c->cancelled) {
      chunks.assign(c->chunks, nullptr);
      for (const ChunkTask& t : c->parked) chunks[t.index] = t.buf;
    }
  }
  Status s = Status::Aborted("cancelled while being restored");
  if (!chunks.empty())
    s = RestoreFromChunks(gpu_, c->manifest, chunks, dests, options_.ChecksumThreadCount());
  {
    std::lock_guard lock(mu_);
    --c->readers;
  }
  RequestAdvance(store);
  if (!s.ok()) {
    if (s.code() == Code::kCorruption) {
      spdlog::warn("snapshot of step {} in memory failed verification ({}); reading the disk",
                   c->request.step, s.message());
    }
    return false;
  }
  out->step = c->manifest.step;
  out->user_blob = c->manifest.user_blob;
  out->tensors = c->manifest.tensors;
  out->bytes_read = c->manifest.data_bytes;
  out->source = kSourceMemoryNotDurable;
  return true;
}

void Pipeline::FillProgress(const SlotStore* store, TierProgress* p) const {
  const uint64_t now = clock_->NowMicros();
  std::lock_guard lock(mu_);
  std::optional<uint64_t> oldest_undurable_us;
  for (const auto& c : active_) {
    if (c->store != store || c->cancelled || !c->handle->snapshot_done()) continue;
    const uint64_t st = c->request.step;
    if (!p->newest_snapshot_step || st > *p->newest_snapshot_step) p->newest_snapshot_step = st;
    if (!p->newest_durable_step || st > *p->newest_durable_step) {
      if (!oldest_undurable_us || c->submitted_us < *oldest_undurable_us) {
        oldest_undurable_us = c->submitted_us;
      }
    }
  }
  if (p->newest_snapshot_step && p->newest_durable_step) {
    p->durable_lag_steps = *p->newest_snapshot_step - *p->newest_durable_step;
  }
  if (oldest_undurable_us) {
    p->durable_lag_s = static_cast<double>(now - std::min(now, *oldest_undurable_us)) / 1e6;
  }
  auto it = tiers_.find(store);
  if (it != tiers_.end()) {
    p->committed = it->second.committed;
    p->coalesced = it->second.coalesced;
    p->skipped = it->second.skipped;
  }
}

}  // namespace pccheck
