// Liveness: whether the threads that do pccheckd's work are making progress.
// The service watchdog (server/service_watchdog.h) pings systemd only while
// nothing here is stalled.
//
// What "alive" means. Each watched thread is, at any moment, either
//   parked  waiting for work or for another party: a queue's condition
//           variable, a pool chunk that a writer will give back, a client;
//           a parked thread is never stalled, so an idle daemon is healthy;
//   busy    in one bounded step: copying a chunk, waiting for its copy fence,
//           checksumming and writing it, committing a save, one turn of the
//           accept loop. On working hardware each ends within seconds.
// A thread busy in one step for longer than a limit is stalled: a write
// stuck on a dead disk (the task in D state), a CUDA call that never
// returns, a lock never released. Waiting on another stage is parking, so
// the stage at fault is the one that shows up, not everything behind it.
// A thread that loops over many short steps (polling a trainer's event)
// calls Busy() again at each one: each call restarts its clock.
//
// Thread-safety: Add, Stalled and Watched from any thread; a Worker is used
// by its own thread (Busy and Park are two relaxed atomic stores).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"

namespace pccheck {

class Liveness {
  struct Entry {
    std::string name;
    std::atomic<uint64_t> busy_since{0};  // clock micros + 1; 0 = parked
    std::atomic<const char*> what{""};
  };

 public:
  // `clock` must outlive this object and every Worker.
  explicit Liveness(const Clock* clock = &DefaultClock()) : clock_(clock) {}
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;

  // One watched thread. A default-constructed Worker (no Liveness) ignores
  // every call, so code can be watched or not. Move-only; unregisters when
  // destroyed. Must be destroyed before its Liveness.
  class Worker {
   public:
    Worker() = default;
    Worker(Worker&& o) noexcept : owner_(o.owner_), entry_(o.entry_) { o.entry_ = nullptr; }
    Worker& operator=(Worker&& o) noexcept;
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    // Starts a bounded step (restarting the clock). `what` names it in the
    // stall report ("writing a chunk"); it must be a string literal.
    void Busy(const char* what);
    // Waiting for work or for another party; never stalled.
    void Park();

   private:
    friend class Liveness;
    Worker(Liveness* owner, Entry* entry) : owner_(owner), entry_(entry) {}
    Liveness* owner_ = nullptr;
    Entry* entry_ = nullptr;
  };

  // Registers a thread under `name` ("writer 2"), parked.
  Worker Add(std::string name);

  // The workers busy in one step for longer than limit_us, each as
  // "writer 2: writing a chunk for 75 s"; empty when all are progressing.
  std::vector<std::string> Stalled(uint64_t limit_us) const;
  // How many workers are registered.
  size_t Watched() const;

 private:
  void Remove(Entry* e);

  const Clock* const clock_;
  mutable std::mutex mu_;
  std::list<Entry> entries_;  // stable addresses: Workers point into it
};

}  // namespace pccheck
