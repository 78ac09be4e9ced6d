// A toy trainer for the daemon's integration tests, usable inside forked
// children (no Catch2 here: failures come back as Status). One tensor lives in
// shared memory (snapshotted in place), one in the trainer's own memory
// (staged at each save); every element is a pure function of (step, rank), so
// a restore can be checked bit for bit by recomputing it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pccheck/client.h"

namespace pccheck::testing {

class TestTrainer {
 public:
  // Connects as job/rank and registers `weight_bytes` of shared memory plus a
  // small staged tensor.
  static Result<std::unique_ptr<TestTrainer>> Open(const std::string& socket,
                                                   const std::string& job, uint32_t rank,
                                                   uint64_t weight_bytes);

  // Waits (up to timeout_ms) for earlier snapshots, sets the tensors to
  // `step`'s values and starts a save of them. Returns the ticket.
  Result<uint64_t> Step(uint64_t step, int timeout_ms = 30'000);
  void Set(uint64_t step);
  bool Holds(uint64_t step) const;
  void Scribble();
  // Scribbles, restores `step` (default: latest) and checks every byte and
  // the user blob; Corruption naming the step when they differ.
  Result<uint64_t> RestoreAndCheck(std::optional<uint64_t> step = std::nullopt);

  Client& client() { return *client_; }
  uint64_t weight_bytes() const { return n_weights_ * 4; }

 private:
  TestTrainer() = default;
  uint32_t Value(uint64_t step, uint64_t which, uint64_t i) const;

  std::unique_ptr<Client> client_;
  uint32_t rank_ = 0;
  uint32_t* weights_ = nullptr;
  uint64_t n_weights_ = 0;
  std::vector<uint32_t> bias_ = std::vector<uint32_t>(3000);
};

}  // namespace pccheck::testing
