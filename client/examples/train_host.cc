// A toy trainer on the C++ API: host tensors, one in shared memory (saved
// with no copy) and one in ordinary memory (staged at each save). Each step
// sets the tensors to a pure function of the step, so that the end can check a
// restore bit for bit by recomputing what the restored step must hold.
//
//   train_host --socket S --job J --rank R --steps N --every K --bytes B [--step-ms M]
//
// Prints "committed step=K" as saves commit; exits 0 when the final restore
// matches, 1 when it does not, 2 on bad usage or when nothing could be saved.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "pccheck/client.h"

namespace {

struct Flags {
  pccheck::ClientOptions client;
  uint64_t steps = 100;
  uint64_t every = 10;
  uint64_t bytes = 16 << 20;
  int step_ms = 0;
};

bool ParseFlags(int argc, char** argv, Flags* f) {
  using Setter = std::function<void(const std::string&)>;
  const std::map<std::string, Setter> setters = {
      {"--socket", [f](const std::string& v) { f->client.socket = v; }},
      {"--job", [f](const std::string& v) { f->client.job = v; }},
      {"--rank", [f](const std::string& v) { f->client.rank = std::stoul(v); }},
      {"--steps", [f](const std::string& v) { f->steps = std::stoull(v); }},
      {"--every", [f](const std::string& v) { f->every = std::stoull(v); }},
      {"--bytes", [f](const std::string& v) { f->bytes = std::stoull(v); }},
      {"--step-ms", [f](const std::string& v) { f->step_ms = std::stoi(v); }},
  };
  if (argc % 2 == 0) return false;
  for (int i = 1; i + 1 < argc; i += 2) {
    auto setter = setters.find(argv[i]);
    if (setter == setters.end()) return false;
    try {
      setter->second(argv[i + 1]);
    } catch (const std::exception&) {  // std::stoull on something not a number
      return false;
    }
  }
  return f->every > 0 && f->bytes >= 4 && !f->client.job.empty();
}

// The value of element i of tensor `which` after step `step` (splitmix64).
uint32_t Value(uint64_t step, uint64_t which, uint64_t i) {
  uint64_t z = step * 0x9E3779B97F4A7C15ull + which * 0xD1B54A32D192ED03ull + i;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

void Fill(uint32_t* data, uint64_t n, uint64_t step, uint64_t which) {
  for (uint64_t i = 0; i < n; ++i) data[i] = Value(step, which, i);
}

bool Matches(const uint32_t* data, uint64_t n, uint64_t step, uint64_t which) {
  for (uint64_t i = 0; i < n; ++i) {
    if (data[i] != Value(step, which, i)) return false;
  }
  return true;
}

struct InFlight {
  uint64_t ticket;
  uint64_t step;
};

// Reports saves that finished, oldest first; keeps the rest.
void Report(pccheck::Client& client, std::deque<InFlight>* inflight) {
  for (auto it = inflight->begin(); it != inflight->end();) {
    auto state = client.Poll(it->ticket);
    if (state.ok() && *state == pccheck::SaveState::kCommitted) {
      std::printf("committed step=%llu\n", static_cast<unsigned long long>(it->step));
      std::fflush(stdout);
    } else if (state.ok() && *state == pccheck::SaveState::kFailed) {
      std::fprintf(stderr, "save of step %llu failed: %s\n",
                   static_cast<unsigned long long>(it->step),
                   client.Wait(it->ticket, 0).ToString().c_str());
    } else if (state.ok()) {
      ++it;
      continue;
    }
    it = inflight->erase(it);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: %s --job J [--socket S] [--rank R] [--steps N] [--every K] "
                 "[--bytes B] [--step-ms M]\n",
                 argv[0]);
    return 2;
  }
  auto connected = pccheck::Client::Connect(flags.client);
  if (!connected.ok()) {
    std::fprintf(stderr, "%s\n", connected.status().ToString().c_str());
    return 2;
  }
  pccheck::Client& client = **connected;

  // "weights" lives in shared memory; "momentum" in ordinary memory (staged).
  const uint64_t n_weights = flags.bytes / 4;
  const uint64_t n_momentum = 4096;
  auto shared = client.AllocateShared(n_weights * 4);
  if (!shared.ok()) {
    std::fprintf(stderr, "%s\n", shared.status().ToString().c_str());
    return 2;
  }
  auto* weights = static_cast<uint32_t*>(*shared);
  std::vector<uint32_t> momentum(n_momentum);
  std::vector<pccheck::HostTensor> tensors = {
      {"weights", "uint32", {static_cast<int64_t>(n_weights)}, weights, n_weights * 4},
      {"momentum", "uint32", {static_cast<int64_t>(n_momentum)}, momentum.data(), n_momentum * 4},
  };
  if (pccheck::Status s = client.Register(tensors); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }

  std::deque<InFlight> inflight;
  for (uint64_t step = 1; step <= flags.steps; ++step) {
    // The tensors must not change while the daemon still copies them.
    if (pccheck::Status s = client.BeforeUpdate(); !s.ok()) {
      std::fprintf(stderr, "before step %llu: %s\n", static_cast<unsigned long long>(step),
                   s.ToString().c_str());
    }
    Fill(weights, n_weights, step, 0);
    Fill(momentum.data(), n_momentum, step, 1);
    if (flags.step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(flags.step_ms));
    if (step % flags.every == 0) {
      auto ticket = client.Save(step, "step=" + std::to_string(step));
      if (ticket.ok()) {
        inflight.push_back({*ticket, step});
      } else {  // training goes on; the next save tries again
        std::fprintf(stderr, "save of step %llu: %s\n", static_cast<unsigned long long>(step),
                     ticket.status().ToString().c_str());
      }
    }
    Report(client, &inflight);
  }
  (void)client.WaitAll();
  Report(client, &inflight);

  // Scribble over the tensors so that only a real restore can pass.
  if (pccheck::Status s = client.BeforeUpdate(); !s.ok())
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
  std::memset(weights, 0, n_weights * 4);
  std::memset(momentum.data(), 0, n_momentum * 4);
  auto restored = client.Restore();
  if (!restored.ok()) {
    std::fprintf(stderr, "restore: %s\n", restored.status().ToString().c_str());
    return restored.status().code() == pccheck::Code::kNotFound ? 2 : 1;
  }
  const uint64_t step = restored->step;
  const bool ok = Matches(weights, n_weights, step, 0) &&
                  Matches(momentum.data(), n_momentum, step, 1) &&
                  restored->user_blob == "step=" + std::to_string(step);
  std::printf("restore step=%llu source=%s %s\n", static_cast<unsigned long long>(step),
              restored->source.c_str(), ok ? "verified" : "MISMATCH");
  return ok ? 0 : 1;
}
