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

namespace pccheck {

namespace {

uint64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Adds the time from construction to destruction to a counter.
class StageTimer {
 public:
  explicit StageTimer(std::atomic<uint64_t>* counter) : counter_(counter), start_(NowUs()) {}
  ~StageTimer() { *counter_ += NowUs() - start_; }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  std::atomic<uint64_t>* counter_;
  uint64_t start_;
};

}  // namespace

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
}

Pipeline::~Pipeline() { Stop(0); }

void Pipeline::Submit(std::shared_ptr<Checkpoint> ckpt) {
  ckpt->submitted_us = clock_->NowMicros();
  {
    std::lock_guard lock(mu_);
    active_.push_back(ckpt);
    copy_queue_.push_back(std::move(ckpt));
  }
  copy_cv_.notify_one();
}

int Pipeline::active() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(active_.size());
}

void Pipeline::Cancel(const std::shared_ptr<SaveHandle>& handle, const Status& why) {
  {
    std::lock_guard lock(mu_);
    for (auto& c : active_) {
      if (c->handle == handle) c->Fail(why);
    }
  }
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
  lock.unlock();
  pool_->Kick();
  lock.lock();
  // Abandoned saves drain quickly: their remaining chunks are skipped.
  idle_cv_.wait(lock, [&] { return active_.empty(); });
  stopping_ = true;
  lock.unlock();
  copy_cv_.notify_all();
  write_cv_.notify_all();
  commit_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Pipeline::CopyLoop(Liveness::Worker live) {
  for (;;) {
    std::shared_ptr<Checkpoint> ckpt;
    live.Park();
    {
      std::unique_lock lock(mu_);
      copy_cv_.wait(lock, [&] { return stopping_ || !copy_queue_.empty(); });
      if (copy_queue_.empty()) return;
      ckpt = std::move(copy_queue_.front());
      copy_queue_.pop_front();
    }
    live.Busy("starting a save");
    Checkpoint& c = *ckpt;
    if (c.chunks == 0) {
      QueuedAll(c);
      c.handle->MarkSnapshot();
      ChunkFinished(ckpt, 0);
      continue;
    }
    for (const GpuEventRef& e : c.request.wait_before_copy) {
      Status s = AwaitReady(c, e, live);
      live.Busy("making the copy stream wait for the trainer");
      if (s.ok() && !c.cancelled) s = gpu_->StreamWaitEvent(e.device, e.event);
      if (!s.ok()) c.Fail(s.Annotate("waiting for the trainer's ready event"));
    }
    const uint64_t chunk = options_.chunk_bytes;
    uint64_t queued = 0;
    for (uint64_t i = 0; i < c.chunks; ++i) {
      live.Park();  // the pool refills as writers finish; they are watched
      uint8_t* buf = nullptr;
      if (!c.cancelled) {
        StageTimer t(&counters_.pool_wait_us);
        buf = pool_->Acquire([&] { return c.cancelled.load() || abandon_.load(); });
      }
      live.Busy("copying a chunk");
      if (buf == nullptr) {
        if (!c.cancelled) c.Fail(Status::Aborted("abandoned: the engine is shutting down"));
        ChunkCopied(c, c.chunks - i);
        ChunkFinished(ckpt, c.chunks - i);
        break;
      }
      const uint64_t len = std::min(chunk, c.manifest.data_bytes - i * chunk);
      WriteTask task{ckpt, i, buf, len, {}};
      Status s;
      {
        StageTimer t(&counters_.copy_us);
        s = FillChunk(c, i, buf, len, &task.fences);
      }
      if (!s.ok()) c.Fail(s.Annotate("copying chunk " + std::to_string(i)));
      // A chunk of host tensors is copied already (memcpy): its sources may
      // change now, without waiting for a writer to take the chunk.
      if (task.fences.empty()) {
        CountCopied(c, len, s.ok());
        task.copied = true;
      }
      {
        std::lock_guard lock(mu_);
        write_queue_.push_back(std::move(task));
      }
      write_cv_.notify_one();
      ++queued;
    }
    live.Busy("recording the snapshot-done events");
    if (queued == c.chunks && !c.cancelled) QueuedAll(c);
  }
}

// A trainer that dies before its ready record runs never completes the
// event, and a copy stream made to wait on it would hold every later copy on
// that device for good. So the copy thread watches the event first, and a
// save cancelled meanwhile (its session ended) stops waiting. The stream wait
// that follows keeps the GPU's own ordering guarantee. Each poll is a step of
// its own for the watchdog: a trainer slow to reach its ready point is not
// the daemon hanging; a query that never returns is.
Status Pipeline::AwaitReady(Checkpoint& c, const GpuEventRef& e, Liveness::Worker& live) {
  for (int polls = 0; !c.cancelled && !abandon_; ++polls) {
    live.Busy("polling the trainer's ready event");
    PCC_ASSIGN_OR_RETURN(bool done, gpu_->EventDone(e.device, e.event));
    if (done) return Status::Ok();
    if (polls < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return Status::Ok();
}

void Pipeline::QueuedAll(Checkpoint& c) {
  bool recorded = true;
  const auto& events = c.request.record_after_copy;
  for (size_t i = 0; i < events.size(); ++i) {
    const GpuEventRef& e = events[i];
    Status s;
    // The last event covers every device's copies: its stream first waits
    // on the others' records (SaveRequest::record_after_copy).
    for (size_t j = 0; i + 1 == events.size() && j < i && s.ok(); ++j) {
      if (events[j].device != e.device) s = gpu_->StreamWaitEvent(e.device, events[j].event);
    }
    if (s.ok()) s = gpu_->RecordEvent(e.device, e.event);
    if (!s.ok()) {
      c.Fail(s.Annotate("recording the snapshot-done event"));
      recorded = false;
    }
  }
  // Without its record the event does not cover these copies: the caller
  // learns of the failure when the save ends instead.
  if (recorded && c.request.on_copies_queued) c.request.on_copies_queued();
}

Status Pipeline::FillChunk(Checkpoint& c, uint64_t index, uint8_t* buf, uint64_t len,
                           std::vector<Fence>* fences) {
  const uint64_t start = index * options_.chunk_bytes;
  const uint64_t end = start + len;
  const auto& ts = c.request.tensors;
  // Tensors are packed in order: find the first one that ends after `start`.
  auto it = std::partition_point(ts.begin(), ts.end(), [&](const TensorSource& t) {
    return t.meta.offset + t.meta.bytes <= start;
  });
  std::vector<int> devices;
  Status status;
  for (; it != ts.end() && it->meta.offset < end && status.ok(); ++it) {
    const uint64_t from = std::max(start, it->meta.offset);
    const uint64_t to = std::min(end, it->meta.offset + it->meta.bytes);
    if (from >= to) continue;
    uint8_t* dst = buf + (from - start);
    const uint8_t* src = static_cast<const uint8_t*>(it->data) + (from - it->meta.offset);
    if (it->device == kHostDevice) {
      std::memcpy(dst, src, to - from);
    } else {
      status = gpu_->CopyToHost(it->device, dst, src, to - from);
      if (std::find(devices.begin(), devices.end(), it->device) == devices.end()) {
        devices.push_back(it->device);
      }
    }
  }
  // Fences even after a failure: the writer must not free a chunk that a
  // queued copy may still fill.
  for (int d : devices) {
    auto f = gpu_->Record(d);
    if (f.ok()) {
      fences->push_back(f.value());
    } else if (status.ok()) {
      status = f.status();
    }
  }
  std::memset(buf + len, 0, AlignUp(len, kDirectAlign) - len);
  return status;
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
    Status s;
    if (!task.fences.empty()) {
      StageTimer t(&counters_.fence_wait_us);
      for (const Fence& f : task.fences) {
        Status w = gpu_->Wait(f);
        if (s.ok()) s = w;
      }
    }
    if (!s.ok()) c.Fail(s.Annotate("copying chunk " + std::to_string(task.index)));
    if (!task.copied) CountCopied(c, task.len, s.ok());
    if (!c.cancelled) {
      live.Busy("checksumming and writing a chunk");
      {
        StageTimer t(&counters_.crc_us);
        c.manifest.chunk_crcs[task.index] = Crc32c(task.buf, task.len);
      }
      {
        StageTimer t(&counters_.write_us);
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
  {
    std::lock_guard lock(mu_);
    commit_queue_.push_back(ckpt);
  }
  commit_cv_.notify_one();
}

void Pipeline::CommitLoop(Liveness::Worker live) {
  for (;;) {
    std::shared_ptr<Checkpoint> ckpt;
    live.Park();
    {
      std::unique_lock lock(mu_);
      commit_cv_.wait(lock, [&] { return stopping_ || !commit_queue_.empty(); });
      if (commit_queue_.empty()) return;
      ckpt = std::move(commit_queue_.front());
      commit_queue_.pop_front();
    }
    live.Busy("committing a save (data sync, manifest, latest)");
    Finalize(ckpt);
  }
}

void Pipeline::Finalize(const std::shared_ptr<Checkpoint>& ckpt) {
  Checkpoint& c = *ckpt;
  if (c.cancelled) {
    c.store->AbandonSave(c.manifest.slot);
    Retire(ckpt, c.Error());
    return;
  }
  Status s;
  {
    StageTimer t(&counters_.commit_us);
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
  if (s.ok()) {
    ++counters_.committed;
  } else if (s.code() == Code::kAborted) {
    ++counters_.superseded;
  } else {
    ++counters_.failed;
    NoteError(s);
  }
  {
    std::lock_guard lock(mu_);
    active_.remove(ckpt);
  }
  ckpt->handle->MarkDone(s);
  idle_cv_.notify_all();
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
  Status s = RestoreFromChunks(gpu_, r->manifest, chunks, dests, options_.writers);
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
