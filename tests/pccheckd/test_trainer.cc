#include "test_trainer.h"

#include <cstring>

namespace pccheck::testing {

Result<std::unique_ptr<TestTrainer>> TestTrainer::Open(const std::string& socket,
                                                       const std::string& job, uint32_t rank,
                                                       uint64_t weight_bytes) {
  std::unique_ptr<TestTrainer> t(new TestTrainer());
  t->rank_ = rank;
  PCC_ASSIGN_OR_RETURN(t->client_, Client::Connect({socket, job, rank}));
  t->n_weights_ = weight_bytes / 4;
  PCC_ASSIGN_OR_RETURN(void* mem, t->client_->AllocateShared(t->n_weights_ * 4));
  t->weights_ = static_cast<uint32_t*>(mem);
  PCC_RETURN_IF_ERROR(t->client_->Register(
      {{"weights", "uint32", {static_cast<int64_t>(t->n_weights_)}, t->weights_, t->n_weights_ * 4},
       {"bias",
        "uint32",
        {static_cast<int64_t>(t->bias_.size())},
        t->bias_.data(),
        t->bias_.size() * 4}}));
  return t;
}

uint32_t TestTrainer::Value(uint64_t step, uint64_t which, uint64_t i) const {
  uint64_t z = step * 0x9E3779B97F4A7C15ull + (which + 2 * rank_) * 0xD1B54A32D192ED03ull + i;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

void TestTrainer::Set(uint64_t step) {
  for (uint64_t i = 0; i < n_weights_; ++i) weights_[i] = Value(step, 0, i);
  for (uint64_t i = 0; i < bias_.size(); ++i) bias_[i] = Value(step, 1, i);
}

bool TestTrainer::Holds(uint64_t step) const {
  for (uint64_t i = 0; i < n_weights_; ++i) {
    if (weights_[i] != Value(step, 0, i)) return false;
  }
  for (uint64_t i = 0; i < bias_.size(); ++i) {
    if (bias_[i] != Value(step, 1, i)) return false;
  }
  return true;
}

void TestTrainer::Scribble() {
  std::memset(weights_, 0xAB, n_weights_ * 4);
  std::memset(bias_.data(), 0xCD, bias_.size() * 4);
}

Result<uint64_t> TestTrainer::Step(uint64_t step, int timeout_ms) {
  PCC_RETURN_IF_ERROR(client_->BeforeUpdate(timeout_ms));
  Set(step);
  return client_->Save(step, "step " + std::to_string(step));
}

Result<uint64_t> TestTrainer::RestoreAndCheck(std::optional<uint64_t> step) {
  PCC_RETURN_IF_ERROR(client_->BeforeUpdate(30'000));
  Scribble();
  PCC_ASSIGN_OR_RETURN(RestoreInfo info, client_->Restore(step));
  if (!Holds(info.step)) {
    return Status::Corruption("restored step " + std::to_string(info.step) +
                              " does not hold that step's bytes");
  }
  if (info.user_blob != "step " + std::to_string(info.step)) {
    return Status::Corruption("restored step " + std::to_string(info.step) + " has user blob '" +
                              info.user_blob + "'");
  }
  return info.step;
}

}  // namespace pccheck::testing
