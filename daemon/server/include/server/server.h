// Server: pccheckd's front door. Listens on the Unix socket, authorizes each
// peer by SO_PEERCRED against the allowed uids and groups, answers status
// queries, and runs one Session (one thread) per connected client.
//
// Thread-safety: Run() on one thread; Stop() and StatusJson() from any.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/liveness.h"
#include "engine/engine.h"
#include "gpu/gpu.h"
#include "ipc/socket.h"
#include "server/session.h"

namespace pccheck {

struct ServerOptions {
  std::string socket;
  uint32_t socket_mode = 0660;
  std::vector<uid_t> allow_uids;  // root and the daemon's own uid are always allowed
  std::vector<gid_t> allow_gids;
  // Members may use any job; everyone else only the jobs they own (root and
  // the daemon's own uid always may).
  std::vector<gid_t> admin_gids;
  SessionLimits limits;
  // Reaches client GPU memory and events (CUDA IPC); null or without devices:
  // host tensors only. Must outlive the server and the engine's saves.
  Gpu* gpu = nullptr;
  std::string config_summary_json;  // shown under "config" in status
  // Where the accept loop reports each turn (util/liveness.h); null: not
  // watched. Must outlive Run().
  Liveness* liveness = nullptr;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Engine* engine,
                                               const std::string& gpu_description,
                                               const Clock* clock = &DefaultClock());
  ~Server();

  // Accepts and serves clients until Stop(). Then stops every session
  // (snapshots already in memory still commit) and joins their threads.
  void Run();
  void Stop();
  std::string StatusJson();
  // The connected clients (sessions past their handshake).
  std::vector<SessionInfo> Sessions();

 private:
  struct Conn {
    std::thread thread;
    PeerCred peer;
    std::shared_ptr<Session> session;  // set once the handshake succeeded
    std::atomic<bool> done{false};
    std::atomic<bool> greeted{false};  // its first frame arrived
    // Under mu_: the job and rank this connection serves, once claimed.
    bool holds = false;
    std::string job;
    uint32_t rank = 0;
  };

  // Logs a condition that may repeat in a tight loop at most once per
  // interval, with the number of times it happened.
  class LogLimiter {
   public:
    explicit LogLimiter(uint64_t interval_us) : interval_us_(interval_us) {}
    // The occurrences to report when it is time to log (counting this one),
    // else 0.
    uint64_t Note(uint64_t now_us);

   private:
    const uint64_t interval_us_;
    uint64_t last_us_ = 0;
    uint64_t count_ = 0;
    bool logged_ = false;
  };

  Server(const ServerOptions& options, Engine* engine, std::string gpu, const Clock* clock,
         UnixSocket listener, EventFd stop);
  // On the accept loop: authorizes the peer by SO_PEERCRED before reading
  // anything, bounds the connections still in their handshake, and starts
  // the connection's thread; a peer refused gets the reason and is closed.
  void Admit(UnixSocket socket);
  void ServeConnection(Conn* conn, UnixSocket socket);
  Status Authorize(const PeerCred& peer) const;
  // Root, the daemon's own uid and members of admin_gids may use every job.
  bool Privileged(const PeerCred& peer) const;
  // Ok when the peer may use `job`: it is privileged, owns the job, or the
  // job has no recorded owner. With `claim`, a job without one is recorded
  // as the peer's first (docs/design-notes.md, "A job belongs to its owner").
  Status MayUseJob(const PeerCred& peer, bool privileged, const std::string& job, bool claim);
  // One live session per job and rank: Busy naming the holder's pid while
  // it lives; a holder whose client hung up or whose process is gone is
  // stopped and replaced.
  Status Claim(Conn* conn, const wire::Hello& hello);
  void Reap(bool all);

  const ServerOptions options_;
  Engine* const engine_;
  const std::string gpu_;
  const Clock* const clock_;
  const int64_t started_at_;
  UnixSocket listener_;
  EventFd stop_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_session_{1};
  std::mutex mu_;
  std::list<std::unique_ptr<Conn>> conns_;
  LogLimiter refused_log_{10'000'000}, accept_log_{10'000'000}, thread_log_{10'000'000};
};

// Connections admitted but not yet past their first message; more wait in
// the listen backlog's place: refused with Busy.
inline constexpr int kMaxHandshakes = 64;

}  // namespace pccheck
