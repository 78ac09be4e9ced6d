#include "engine/engine.h"

namespace pccheck {

// ---- SaveHandle -------------------------------------------------------------

bool SaveHandle::snapshot_done() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

void SaveHandle::WaitSnapshot() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return snapshot_ || done_; });  // a failed copy may end it
}

bool SaveHandle::done() const {
  std::lock_guard lock(mu_);
  return done_;
}

bool SaveHandle::coalesced() const {
  std::lock_guard lock(mu_);
  return coalesced_;
}

Status SaveHandle::Wait() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_; });
  return status_;
}

bool SaveHandle::WaitFor(uint64_t timeout_us) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::microseconds(timeout_us), [&] { return done_; });
}

Status SaveHandle::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void SaveHandle::SetOnSnapshot(std::function<void()> cb) {
  std::unique_lock lock(mu_);
  if (snapshot_) {
    lock.unlock();
    cb();
    return;
  }
  on_snapshot_ = std::move(cb);
}

void SaveHandle::SetOnDone(std::function<void(const Status&)> cb) {
  std::unique_lock lock(mu_);
  if (done_) {
    Status s = status_;
    lock.unlock();
    cb(s);
    return;
  }
  on_done_ = std::move(cb);
}

void SaveHandle::MarkSnapshot() {
  std::function<void()> cb;
  {
    std::lock_guard lock(mu_);
    snapshot_ = true;
    cb = std::move(on_snapshot_);
  }
  cv_.notify_all();
  if (cb) cb();
}

void SaveHandle::MarkDone(const Status& s, bool coalesced) {
  std::function<void(const Status&)> cb;
  {
    std::lock_guard lock(mu_);
    done_ = true;
    coalesced_ = coalesced;
    status_ = s;
    cb = std::move(on_done_);
  }
  cv_.notify_all();
  if (cb) cb(s);
}

}  // namespace pccheck
