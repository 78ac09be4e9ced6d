// `pccheck bench --socket`: the bench as a running pccheckd's clients see it.
//
// The parent asks the daemon for its settings (status), then forks one
// process per client before it starts any thread. Each client connects
// through libpccheck as rank R of the job, puts its tensors in shared memory
// (Client::AllocateShared) filled with random bytes, registers them, says
// "ready" and waits for the start signal, so that connecting and filling
// memory are not timed. Then it saves as fast as the daemon commits, at most
// `inflight` in flight, timing every Client::Save call. The parent prints each
// commit the moment a client reports it and times the run from the start
// signal to the last commit.
//
// A client talks to the parent over its own pipe, one line per event:
//   ready FIRST_STEP | committed STEP | coalesced STEP | aborted STEP WHY | failed STEP WHY |
//   hold MICROSECONDS (one per Save call, at the end) | error WHY
// and reads one byte from the shared start pipe: 'g' to go, 'q' to quit.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/json_parse.h"
#include "base/size_parse.h"
#include "cli/bench_data.h"
#include "cli/commands.h"
#include "io/disk_ceiling.h"
#include "io/file_system.h"
#include "pccheck/client.h"

namespace pccheck::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// What the bench needs to know about the daemon, from its status document.
struct DaemonSettings {
  std::string root;
  std::string gpu;
  int writers = 4;
  int max_inflight = 2;
  uint64_t chunk_bytes = 0;
  uint64_t pool_bytes = 0;
};

Result<DaemonSettings> AskDaemon(const std::string& socket) {
  PCC_ASSIGN_OR_RETURN(std::string json, QueryStatusJson(socket));
  PCC_ASSIGN_OR_RETURN(JsonValue doc, ParseJson(json));
  const JsonValue& c = doc["config"];
  DaemonSettings d;
  d.root = c["root"].AsString();
  if (d.root.empty()) {
    return Status::InvalidArgument("pccheckd at " + socket +
                                   " does not say where its store is (no config.root in its "
                                   "status); is it an older version?");
  }
  d.gpu = doc["gpu"].AsString();
  d.writers = static_cast<int>(std::clamp<uint64_t>(c["writers"].AsUint(4), 1, 256));
  d.max_inflight = static_cast<int>(std::clamp<uint64_t>(c["max_inflight"].AsUint(2), 1, 64));
  d.chunk_bytes = c["chunk_bytes"].AsUint();
  d.pool_bytes = c["pool_bytes"].AsUint();
  return d;
}

// ---- one client process ----------------------------------------------------------

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

void Say(FILE* out, const char* fmt, auto... args) {
  std::fprintf(out, fmt, args...);
  std::fflush(out);
}

// Returns the process's exit code.
int ClientMain(const BenchOptions& o, uint32_t rank, int go_fd, FILE* out) {
  auto error = [out](const std::string& what, const Status& s) {
    Say(out, "error %s: %s\n", what.c_str(), OneLine(s.ToString()).c_str());
    return kExitFailed;
  };
  auto connected = Client::Connect({o.socket, o.job, rank});
  if (!connected.ok()) return error("connecting", connected.status());
  Client& client = **connected;
  auto mem = client.AllocateShared(o.size);
  if (!mem.ok()) return error("allocating shared memory", mem.status());
  auto* base = static_cast<uint8_t*>(*mem);
  FillRandom(base, o.size, (o.size ^ 0x5eed) + 0x100000001b3ull * rank);
  std::vector<HostTensor> tensors;
  for (const BenchTensor& b : SplitIntoTensors(o.size)) {
    tensors.push_back({b.name, "uint8", {static_cast<int64_t>(b.bytes)}, base + b.offset, b.bytes});
  }
  if (Status s = client.Register(tensors); !s.ok()) return error("registering", s);
  auto latest = client.LatestStep();
  if (!latest.ok()) return error("listing", latest.status());
  const uint64_t first = latest->value_or(0) + 1;
  Say(out, "ready %" PRIu64 "\n", first);

  char go = 0;
  while (::read(go_fd, &go, 1) < 0 && errno == EINTR) {
  }
  if (go != 'g') return kExitOk;

  struct Pending {
    uint64_t ticket, step;
  };
  std::deque<Pending> pending;
  auto report = [&](const Pending& p, const Status& s) {
    auto state = client.Poll(p.ticket);
    if (s.ok() && state.ok() && *state == SaveState::kCoalesced) {
      Say(out, "coalesced %" PRIu64 "\n", p.step);
    } else if (s.ok()) {
      Say(out, "committed %" PRIu64 "\n", p.step);
    } else {
      Say(out, "%s %" PRIu64 " %s\n", s.code() == Code::kAborted ? "aborted" : "failed", p.step,
          OneLine(s.ToString()).c_str());
    }
  };
  // Reports every save that has finished, in any order.
  auto reap = [&] {
    for (auto it = pending.begin(); it != pending.end();) {
      auto state = client.Poll(it->ticket);
      if (state.ok() && (*state == SaveState::kCommitted || *state == SaveState::kFailed ||
                         *state == SaveState::kCoalesced)) {
        report(*it, client.Wait(it->ticket, 0));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  };

  std::vector<double> hold_us;
  hold_us.reserve(o.count);
  const size_t window = static_cast<size_t>(std::max(o.inflight, 1));
  int exit_code = kExitOk;
  for (uint64_t i = 0; i < o.count; ++i) {
    while (pending.size() >= window) {
      report(pending.front(), client.Wait(pending.front().ticket));
      pending.pop_front();
    }
    const uint64_t step = first + i;
    const auto t0 = SteadyClock::now();
    auto ticket = client.Save(step);
    hold_us.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
    if (ticket.ok()) {
      pending.push_back({*ticket, step});
    } else {
      Say(out, "failed %" PRIu64 " %s\n", step, OneLine(ticket.status().ToString()).c_str());
      if (ticket.status().code() == Code::kUnavailable) {
        exit_code = error("saving", ticket.status());
        break;
      }
    }
    reap();
  }
  while (!pending.empty()) {
    report(pending.front(), client.Wait(pending.front().ticket));
    pending.pop_front();
  }
  for (double us : hold_us) std::fprintf(out, "hold %.3f\n", us);
  std::fflush(out);
  return exit_code;
}

// ---- the parent ------------------------------------------------------------------

struct Child {
  uint32_t rank = 0;
  pid_t pid = -1;
  int fd = -1;  // read end of its report pipe
  std::string buf;
  bool ready = false;
  bool eof = false;
  std::string error;
};

struct Totals {
  uint64_t committed = 0, superseded = 0, failed = 0, coalesced = 0;
  double last_commit_s = 0;
  std::vector<double> hold_us;
};

// Handles one line from a child. `t0` is the start signal's time (nullptr
// before it was given).
void HandleLine(Child& c, const std::string& line, const SteadyClock::time_point* t0, bool tag_rank,
                Totals* t) {
  const auto space = line.find(' ');
  const std::string word = line.substr(0, space);
  const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
  if (word == "ready") {
    c.ready = true;
  } else if (word == "committed") {
    ++t->committed;
    if (t0 != nullptr) t->last_commit_s = SecondsSince(*t0);
    if (tag_rank) {
      std::printf("committed step=%s rank=%u\n", rest.c_str(), c.rank);
    } else {
      std::printf("committed step=%s\n", rest.c_str());
    }
    std::fflush(stdout);
  } else if (word == "coalesced") {
    ++t->coalesced;
  } else if (word == "aborted" || word == "failed") {
    ++(word == "aborted" ? t->superseded : t->failed);
    std::fprintf(stderr, "%s step=%s (rank %u)\n", word.c_str(), rest.c_str(), c.rank);
  } else if (word == "hold") {
    t->hold_us.push_back(std::strtod(rest.c_str(), nullptr));
  } else if (word == "error") {
    c.error = rest;
    std::fprintf(stderr, "pccheck bench: rank %u: %s\n", c.rank, rest.c_str());
  }
}

// Reads what the children have to say until `done` holds or every child has
// closed its pipe. Prints a progress line on stderr about every two seconds.
template <typename Done>
void Pump(std::vector<Child>& children, const SteadyClock::time_point* t0, bool tag_rank,
          Totals* totals, Done done) {
  double next_progress = 2;
  while (!done()) {
    std::vector<pollfd> fds;
    std::vector<Child*> who;
    for (auto& c : children) {
      if (c.eof) continue;
      fds.push_back({c.fd, POLLIN, 0});
      who.push_back(&c);
    }
    if (fds.empty()) return;
    int n = ::poll(fds.data(), fds.size(), 500);
    if (n < 0 && errno != EINTR) return;
    for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Child& c = *who[i];
      char tmp[4096];
      ssize_t got = ::read(c.fd, tmp, sizeof tmp);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        c.eof = true;
        continue;
      }
      c.buf.append(tmp, static_cast<size_t>(got));
      for (size_t nl; (nl = c.buf.find('\n')) != std::string::npos; c.buf.erase(0, nl + 1)) {
        HandleLine(c, c.buf.substr(0, nl), t0, tag_rank, totals);
      }
    }
    if (t0 != nullptr && SecondsSince(*t0) >= next_progress) {
      std::fprintf(stderr, "bench: %" PRIu64 " committed after %.1f s\n", totals->committed,
                   SecondsSince(*t0));
      next_progress = SecondsSince(*t0) + 2;
    }
  }
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

void StartSignal(int fd, char what, size_t n) {
  const std::string bytes(n, what);
  (void)!::write(fd, bytes.data(), bytes.size());  // n < PIPE_BUF: one write
}

}  // namespace

int RunDaemonBench(const BenchOptions& o) {
  auto settings = AskDaemon(o.socket);
  if (!settings.ok()) {
    std::fprintf(stderr, "pccheck bench: %s\n", settings.status().message().c_str());
    return kExitFailed;
  }
  const DaemonSettings& d = settings.value();
  BenchOptions co = o;
  co.inflight = o.inflight_given ? o.inflight : d.max_inflight;
  const int clients = std::max(o.clients, 1);
  std::fprintf(stderr,
               "bench: %d client%s of pccheckd at %s, each %" PRIu64
               " checkpoints of %s, %d in flight (store %s, pool %s, chunk %s)\n",
               clients, clients == 1 ? "" : "s", o.socket.c_str(), o.count,
               FormatSize(o.size).c_str(), co.inflight, d.root.c_str(),
               FormatSize(d.pool_bytes).c_str(), FormatSize(d.chunk_bytes).c_str());

  // Forked before any thread exists in this process.
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "pccheck bench: pipe: %s\n", std::strerror(errno));
    return kExitFailed;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<Child> children(static_cast<size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    Child& c = children[static_cast<size_t>(i)];
    c.rank = o.rank + static_cast<uint32_t>(i);
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
      std::fprintf(stderr, "pccheck bench: pipe: %s\n", std::strerror(errno));
      return kExitFailed;
    }
    c.pid = ::fork();
    if (c.pid < 0) {
      std::fprintf(stderr, "pccheck bench: fork: %s\n", std::strerror(errno));
      return kExitFailed;
    }
    if (c.pid == 0) {
      ::close(go[1]);
      ::close(report[0]);
      for (int j = 0; j < i; ++j) ::close(children[static_cast<size_t>(j)].fd);
      FILE* out = ::fdopen(report[1], "w");
      const int code = out != nullptr ? ClientMain(co, c.rank, go[0], out) : kExitFailed;
      if (out != nullptr) std::fclose(out);
      std::fflush(stderr);
      ::_exit(code);
    }
    ::close(report[1]);
    c.fd = report[0];
  }
  ::close(go[0]);

  const bool tag_rank = clients > 1;
  Totals totals;
  Pump(children, nullptr, tag_rank, &totals, [&] {
    return std::all_of(children.begin(), children.end(), [](auto& c) { return c.ready || c.eof; });
  });
  const bool all_ready =
      std::all_of(children.begin(), children.end(), [](auto& c) { return c.ready; });
  StartSignal(go[1], all_ready ? 'g' : 'q', children.size());
  const auto t0 = SteadyClock::now();
  ::close(go[1]);
  Pump(children, all_ready ? &t0 : nullptr, tag_rank, &totals, [] { return false; });
  bool child_failed = !all_ready;
  for (auto& c : children) {
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(c.fd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      child_failed = true;
      if (c.error.empty()) {
        std::fprintf(stderr, "pccheck bench: the client of rank %u %s\n", c.rank,
                     WIFSIGNALED(status)
                         ? ("was killed by signal " + std::to_string(WTERMSIG(status))).c_str()
                         : ("exited with status " + std::to_string(WEXITSTATUS(status))).c_str());
      }
    }
  }
  if (!all_ready) {
    std::fprintf(stderr, "pccheck bench: not every client could start (see above)\n");
    return kExitFailed;
  }

  // The reference: the disk's write ceiling for as many bytes in the daemon's
  // store directory, which is why the bench must run on its machine.
  const uint64_t persisted = totals.committed * o.size;
  std::fprintf(stderr, "bench: measuring the disk's write ceiling in %s...\n", d.root.c_str());
  std::unique_ptr<FileSystem> fs = NewPosixFileSystem();
  auto raw = MeasureWriteCeiling(fs.get(), d.root, std::max(persisted, o.size), d.chunk_bytes);
  if (!raw.ok()) {
    std::fprintf(stderr,
                 "pccheck bench: cannot measure the raw write rate of pccheckd's store %s: %s\n"
                 "(run `pccheck bench --socket` on the daemon's machine, as a user who may "
                 "write to its store)\n",
                 d.root.c_str(), raw.status().ToString().c_str());
    return kExitFailed;
  }

  const double seconds = totals.last_commit_s;
  const double persist_gbps = Gbps(persisted, seconds);
  const double raw_gbps = raw->best().gbps;
  const double ratio = raw_gbps > 0 ? persist_gbps / raw_gbps : 0;
  const double p50 = Percentile(totals.hold_us, 0.50), p99 = Percentile(totals.hold_us, 0.99);
  if (o.json) {
    JsonObject j;
    j.Add("persist_gbps", persist_gbps)
        .Add("raw_direct_gbps", raw_gbps)
        .Add("ratio", ratio)
        .Add("checkpoints", totals.committed)
        .Add("superseded", totals.superseded)
        .Add("coalesced", totals.coalesced)
        .Add("failed", totals.failed)
        .Add("bytes", persisted)
        .Add("checkpoint_bytes", o.size)
        .Add("seconds", seconds)
        .Add("clients", clients)
        .Add("count_per_client", o.count)
        .Add("inflight", co.inflight)
        .Add("save_hold_us_p50", p50)
        .Add("save_hold_us_p99", p99)
        .Add("save_calls", static_cast<uint64_t>(totals.hold_us.size()))
        .Add("socket", o.socket)
        .Add("root", d.root)
        .Add("chunk_bytes", d.chunk_bytes)
        .Add("pool_bytes", d.pool_bytes)
        .Add("writers", d.writers)
        .Add("max_inflight", d.max_inflight);
    AddWriteCeilingFields(j, *raw).Add("gpu", d.gpu);
    std::printf("%s\n", j.str().c_str());
  } else {
    std::printf(
        "persist   %.3f GB/s  %" PRIu64
        " checkpoints, %s, %.2f s until the last commit, %d "
        "client%s\n"
        "ceiling   %.3f GB/s  %s of %d-stream %s writes in %s blocks (best of 1, 2, 4, 8)\n"
        "ratio     %.2f       (persist / ceiling; 1.00 means checkpointing at the disk's speed)\n"
        "save()    p50 %.1f us, p99 %.1f us  (time each Client::Save held its caller, %zu "
        "calls)\n"
        "settings  pccheckd at %s: chunk %s, pool %s, %d writers; %d in flight per client\n",
        persist_gbps, totals.committed, FormatSize(persisted).c_str(), seconds, clients,
        clients == 1 ? "" : "s", raw_gbps, FormatSize(raw->bytes).c_str(), raw->best().streams,
        raw->direct ? "O_DIRECT" : "buffered (O_DIRECT refused here)",
        FormatSize(raw->block_bytes).c_str(), ratio, p50, p99, totals.hold_us.size(),
        o.socket.c_str(), FormatSize(d.chunk_bytes).c_str(), FormatSize(d.pool_bytes).c_str(),
        d.writers, co.inflight);
    if (totals.superseded > 0) {
      std::printf("note      %" PRIu64
                  " older checkpoints were superseded by newer ones in flight\n",
                  totals.superseded);
    }
  }
  std::fflush(stdout);
  const uint64_t wanted = o.count * static_cast<uint64_t>(clients);
  if (child_failed || totals.failed > 0 || totals.committed == 0) {
    std::fprintf(stderr,
                 "pccheck bench: %" PRIu64 " of %" PRIu64 " checkpoints failed (see above)\n",
                 wanted - std::min(wanted, totals.committed + totals.superseded), wanted);
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace pccheck::cli
