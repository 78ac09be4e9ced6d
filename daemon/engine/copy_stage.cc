// The copy stage: the copy thread takes saves in arrival order and fills pool
// chunks from their sources (memcpy for host tensors, queued device-to-host
// copies through Gpu for device ones), then hands each chunk on: to the
// checksum thread for memory-tier saves, to the writers otherwise
// (pipeline.h). A save admitted whole takes its chunks from its reservation
// and never waits midway; only a save larger than the pool waits for chunks.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "engine/pipeline.h"
#include "stage_timer.h"

namespace pccheck {

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
      if (!c.cancelled && c.reserved) {
        buf = pool_->TakeReserved();  // admitted whole: never waits
        --c.reserve_left;
      } else if (!c.cancelled) {
        StageTimer t(clock_, &counters_.pool_wait_us);
        buf = pool_->Acquire([&] { return c.cancelled.load() || abandon_.load(); });
      }
      live.Busy("copying a chunk");
      if (buf == nullptr) {
        if (!c.cancelled) c.Fail(Status::Aborted("abandoned: the engine is shutting down"));
        pool_->Unreserve(c.reserve_left);
        c.reserve_left = 0;
        ChunkCopied(c, c.chunks - i);
        ChunkFinished(ckpt, c.chunks - i);
        break;
      }
      const uint64_t len = std::min(chunk, c.manifest.data_bytes - i * chunk);
      WriteTask task{ckpt, i, buf, len, {}, false, false};
      Status s;
      {
        StageTimer t(clock_, &counters_.copy_us);
        s = FillChunk(c, i, buf, len, &task.fences);
      }
      if (!s.ok()) c.Fail(s.Annotate("copying chunk " + std::to_string(i)));
      // A chunk of host tensors is copied already (memcpy): its sources may
      // change now, without waiting for a writer to take the chunk.
      if (task.fences.empty()) {
        CountCopied(c, len, s.ok());
        task.copied = true;
      }
      if (c.gated) {
        {
          std::lock_guard lock(mu_);
          check_queue_.push_back(std::move(task));
        }
        check_cv_.notify_one();
      } else {
        {
          std::lock_guard lock(mu_);
          write_queue_.push_back(std::move(task));
        }
        write_cv_.notify_one();
      }
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

}  // namespace pccheck
