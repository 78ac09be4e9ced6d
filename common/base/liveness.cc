#include "base/liveness.h"

#include <utility>

namespace pccheck {

Liveness::Worker& Liveness::Worker::operator=(Worker&& o) noexcept {
  if (this != &o) {
    if (entry_ != nullptr) owner_->Remove(entry_);
    owner_ = o.owner_;
    entry_ = o.entry_;
    o.entry_ = nullptr;
  }
  return *this;
}

Liveness::Worker::~Worker() {
  if (entry_ != nullptr) owner_->Remove(entry_);
}

void Liveness::Worker::Busy(const char* what) {
  if (entry_ == nullptr) return;
  entry_->what.store(what, std::memory_order_relaxed);
  entry_->busy_since.store(owner_->clock_->NowMicros() + 1, std::memory_order_relaxed);
}

void Liveness::Worker::Park() {
  if (entry_ != nullptr) entry_->busy_since.store(0, std::memory_order_relaxed);
}

Liveness::Worker Liveness::Add(std::string name) {
  std::lock_guard lock(mu_);
  Entry& e = entries_.emplace_back();
  e.name = std::move(name);
  return Worker(this, &e);
}

void Liveness::Remove(Entry* e) {
  std::lock_guard lock(mu_);
  entries_.remove_if([e](const Entry& x) { return &x == e; });
}

std::vector<std::string> Liveness::Stalled(uint64_t limit_us) const {
  const uint64_t now = clock_->NowMicros();
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (const Entry& e : entries_) {
    const uint64_t since = e.busy_since.load(std::memory_order_relaxed);
    if (since == 0) continue;
    const uint64_t busy_us = now + 1 > since ? now + 1 - since : 0;
    if (busy_us <= limit_us) continue;
    out.push_back(e.name + ": " + e.what.load(std::memory_order_relaxed) + " for " +
                  std::to_string(busy_us / 1'000'000) + " s");
  }
  return out;
}

size_t Liveness::Watched() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace pccheck
