#include "server/server.h"

#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <utility>

#include "report/status_json.h"
#include "server/store_requests.h"
#include "store/store_paths.h"

namespace pccheck {

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Engine* engine,
                                              const std::string& gpu_description,
                                              const Clock* clock) {
  PCC_ASSIGN_OR_RETURN(UnixSocket listener,
                       UnixSocket::Listen(options.socket, options.socket_mode));
  PCC_ASSIGN_OR_RETURN(EventFd stop, EventFd::Create());
  return std::unique_ptr<Server>(
      new Server(options, engine, gpu_description, clock, std::move(listener), std::move(stop)));
}

Server::Server(const ServerOptions& options, Engine* engine, std::string gpu, const Clock* clock,
               UnixSocket listener, EventFd stop)
    : options_(options),
      engine_(engine),
      gpu_(std::move(gpu)),
      clock_(clock),
      started_at_(clock->WallSeconds()),
      listener_(std::move(listener)),
      stop_(std::move(stop)) {}

Server::~Server() {
  Stop();
  Reap(true);
}

void Server::Stop() {
  stopping_ = true;
  (void)stop_.Signal();
}

void Server::Run() {
  spdlog::info("listening on {}", options_.socket);
  Liveness::Worker live =
      options_.liveness ? options_.liveness->Add("accept loop") : Liveness::Worker();
  while (!stopping_) {
    // A turn waits at most a second for a client, then reaps and accepts.
    live.Busy("serving the listening socket");
    pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
    int n = ::poll(fds, 2, 1000);
    Reap(false);
    if (n < 0 && errno != EINTR) {
      spdlog::error("poll on {}: {}", options_.socket, std::strerror(errno));
      break;
    }
    if (fds[1].revents || stopping_) break;
    if (!(fds[0].revents & POLLIN)) continue;
    auto sock = listener_.Accept();
    if (!sock.ok()) {
      const int err = errno;
      if (uint64_t n = accept_log_.Note(clock_->NowMicros())) {
        spdlog::warn("accept on {}: {} ({} time(s) in the last 10 s)", options_.socket,
                     sock.status().message(), n);
      }
      // Out of descriptors (or memory): the pending connection stays in the
      // backlog and poll reports it again at once; back off instead of spinning.
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        pollfd stop = {stop_.fd(), POLLIN, 0};
        (void)::poll(&stop, 1, 100);
      }
      continue;
    }
    Admit(std::move(sock).value());
  }
  live.Park();
  spdlog::info("no longer accepting clients on {}", options_.socket);
  ::unlink(options_.socket.c_str());
  {
    std::lock_guard lock(mu_);
    for (auto& c : conns_) {
      if (c->session) c->session->Stop();
    }
  }
  Reap(true);
}

void Server::Reap(bool all) {
  std::list<std::unique_ptr<Conn>> finished;
  {
    std::lock_guard lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || (*it)->done) {
        finished.push_back(std::move(*it));
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : finished) {
    if (all && c->session) c->session->Stop();
    if (c->thread.joinable()) c->thread.join();
  }
}

namespace {

// The peer's groups: its primary gid and, through its passwd entry, the rest.
std::vector<gid_t> PeerGroups(const PeerCred& peer) {
  std::vector<gid_t> groups = {peer.gid};
  if (passwd* pw = ::getpwuid(peer.uid)) {
    int n = 64;
    std::vector<gid_t> g(n);
    if (::getgrouplist(pw->pw_name, peer.gid, g.data(), &n) >= 0) {
      groups.assign(g.begin(), g.begin() + n);
    }
  }
  return groups;
}

bool InAny(const std::vector<gid_t>& groups, const std::vector<gid_t>& wanted) {
  return std::any_of(groups.begin(), groups.end(), [&](gid_t g) {
    return std::find(wanted.begin(), wanted.end(), g) != wanted.end();
  });
}

// "alice (uid 1000)", or "uid 1000" without a passwd entry.
std::string UserName(uid_t uid) {
  passwd* pw = ::getpwuid(uid);
  return pw ? std::string(pw->pw_name) + " (uid " + std::to_string(uid) + ")"
            : "uid " + std::to_string(uid);
}

}  // namespace

Status Server::Authorize(const PeerCred& peer) const {
  if (peer.uid == 0 || peer.uid == ::geteuid()) return Status::Ok();
  if (std::find(options_.allow_uids.begin(), options_.allow_uids.end(), peer.uid) !=
      options_.allow_uids.end()) {
    return Status::Ok();
  }
  if (InAny(PeerGroups(peer), options_.allow_gids)) return Status::Ok();
  return Status::PermissionDenied(UserName(peer.uid) + " may not use pccheckd at " +
                                  options_.socket + "; allow it with --allow-uid " +
                                  std::to_string(peer.uid) +
                                  " or --allow-group <one of its groups>");
}

bool Server::Privileged(const PeerCred& peer) const {
  return peer.uid == 0 || peer.uid == ::geteuid() || InAny(PeerGroups(peer), options_.admin_gids);
}

Status Server::MayUseJob(const PeerCred& peer, bool privileged, const std::string& job,
                         bool claim) {
  // A privileged peer never adopts a job created before owners were
  // recorded: its owner may still come back to it.
  auto owner = claim ? engine_->ClaimJob(job, peer.uid, !privileged) : engine_->JobOwner(job);
  if (!owner.ok()) {
    if (privileged) return Status::Ok();
    return owner.status().Annotate("job " + job + " cannot be used until its owner is known");
  }
  if (privileged || !owner->has_value() || **owner == peer.uid) return Status::Ok();
  return Status::PermissionDenied(
      "job " + job + " belongs to " + UserName(**owner) + "; " + UserName(peer.uid) +
      " may not save, restore, list, verify or prune it. Use a job name of your own, or ask the "
      "node's administrator for membership in pccheckd's admin-group");
}

namespace {

// A fresh socket's buffer takes a short reply whole, so this never blocks on
// a peer that does not read.
void Refuse(UnixSocket& socket, const Status& s) {
  wire::ErrorReply e{static_cast<uint32_t>(s.code()), s.message()};
  (void)socket.Send(wire::MsgType::kError, wire::Encode(e));
}

bool ProcessExists(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

uint64_t Server::LogLimiter::Note(uint64_t now_us) {
  ++count_;
  if (logged_ && now_us - last_us_ < interval_us_) return 0;
  logged_ = true;
  last_us_ = now_us;
  return std::exchange(count_, 0);
}

void Server::Admit(UnixSocket socket) {
  auto peer = socket.Peer();
  if (!peer.ok()) {
    spdlog::warn("connection without credentials: {}", peer.status().message());
    return;
  }
  if (Status auth = Authorize(peer.value()); !auth.ok()) {
    if (uint64_t n = refused_log_.Note(clock_->NowMicros())) {
      spdlog::warn("refused pid {}: {} ({} refusal(s) in the last 10 s)", peer->pid, auth.message(),
                   n);
    }
    return Refuse(socket, auth);
  }
  std::lock_guard lock(mu_);
  const auto handshaking = std::count_if(conns_.begin(), conns_.end(),
                                         [](const auto& c) { return !c->done && !c->greeted; });
  if (handshaking >= kMaxHandshakes) {
    if (uint64_t n = refused_log_.Note(clock_->NowMicros())) {
      spdlog::warn(
          "refused pid {}: {} connections are already in their handshake ({} refusal(s) "
          "in the last 10 s)",
          peer->pid, kMaxHandshakes, n);
    }
    return Refuse(socket, Status::Busy("pccheckd has " + std::to_string(kMaxHandshakes) +
                                       " connections in their handshake; retry shortly"));
  }
  auto conn = std::make_unique<Conn>();
  conn->peer = peer.value();
  Conn* raw = conn.get();
  conns_.push_back(std::move(conn));
  try {
    raw->thread = std::thread(
        [this, raw, s = std::move(socket)]() mutable { ServeConnection(raw, std::move(s)); });
  } catch (const std::system_error& e) {
    // The lambda never ran, so the socket is still ours to answer on.
    conns_.pop_back();
    if (uint64_t n = thread_log_.Note(clock_->NowMicros())) {
      spdlog::error(
          "cannot start a thread for pid {}: {} ({} time(s) in the last 10 s; is the "
          "service's TasksMax too low?)",
          peer->pid, e.what(), n);
    }
    return Refuse(socket, Status::Unavailable(std::string("pccheckd cannot start a thread for "
                                                          "this client (") +
                                              e.what() + "); retry later"));
  }
}

void Server::ServeConnection(Conn* conn, UnixSocket socket) {
  auto finish = [&] { conn->done = true; };
  const PeerCred* peer = &conn->peer;
  auto frame = socket.Receive(5000, wire::kMaxFirstFrameBytes);
  conn->greeted = true;
  if (!frame.ok()) {
    spdlog::debug("pid {}: no request: {}", peer->pid, frame.status().message());
    if (frame.status().code() == Code::kInvalidArgument) Refuse(socket, frame.status());
    return finish();
  }
  auto refuse = [&](const Status& s) { Refuse(socket, s); };
  if (frame->type == wire::MsgType::kStatus) {
    (void)socket.Send(wire::MsgType::kStatusReply, wire::Encode(wire::StatusReply{StatusJson()}));
    return finish();
  }
  if (IsStoreRequest(frame->type)) {
    JobAccess access;
    if (!Privileged(*peer)) {
      access = [this, peer](const std::string& job) { return MayUseJob(*peer, false, job, false); };
    }
    ServeStoreRequest(engine_, socket, frame.value(), peer->pid, access);
    return finish();
  }
  if (frame->type != wire::MsgType::kHello) {
    spdlog::warn("pid {}: first message is not Hello; closing", peer->pid);
    return finish();
  }
  auto hello = wire::DecodeHello(frame->payload);
  if (!hello.ok()) {
    spdlog::warn("pid {}: bad Hello: {}", peer->pid, hello.status().message());
    refuse(hello.status());
    return finish();
  }
  if (hello->version != wire::kProtocolVersion) {
    refuse(Status::InvalidArgument("client speaks protocol " + std::to_string(hello->version) +
                                   ", pccheckd " PCCHECK_VERSION " speaks " +
                                   std::to_string(wire::kProtocolVersion) +
                                   "; use matching versions of libpccheck and pccheckd"));
    return finish();
  }
  Status admitted = ValidateJobName(hello->job);
  if (admitted.ok() && stopping_) admitted = Status::Unavailable("pccheckd is shutting down");
  if (admitted.ok()) admitted = MayUseJob(*peer, Privileged(*peer), hello->job, true);
  if (admitted.ok()) admitted = Claim(conn, hello.value());
  if (!admitted.ok()) {
    spdlog::warn("pid {}: refused: {}", peer->pid, admitted.message());
    refuse(admitted);
    return finish();
  }
  auto session = Session::Open(next_session_++, std::move(socket), *peer, hello.value(),
                               options_.limits, engine_, options_.gpu, clock_->WallSeconds());
  if (!session.ok()) {
    spdlog::error("pid {}: could not open a session: {}", peer->pid, session.status().ToString());
    return finish();
  }
  {
    std::lock_guard lock(mu_);
    conn->session = session.value();
  }
  if (stopping_) session.value()->Stop();
  (void)session.value()->Serve();
  finish();
}

Status Server::Claim(Conn* conn, const wire::Hello& hello) {
  std::lock_guard lock(mu_);
  for (auto& c : conns_) {
    if (c.get() == conn || !c->holds || c->done || c->job != hello.job || c->rank != hello.rank) {
      continue;
    }
    const bool gone = !ProcessExists(c->peer.pid) || (c->session && c->session->PeerGone());
    if (!gone) {
      return Status::Busy("job " + hello.job + " rank " + std::to_string(hello.rank) +
                          " is already being saved by pid " + std::to_string(c->peer.pid) +
                          " (uid " + std::to_string(c->peer.uid) +
                          "); two processes saving one rank would overwrite each other's "
                          "checkpoints: stop that process, or give this one another rank or job");
    }
    spdlog::info("job {} rank {}: pid {} takes over from pid {}, which is gone", hello.job,
                 hello.rank, conn->peer.pid, c->peer.pid);
    if (c->session) c->session->Stop();
    c->holds = false;
  }
  conn->holds = true;
  conn->job = hello.job;
  conn->rank = hello.rank;
  return Status::Ok();
}

std::vector<SessionInfo> Server::Sessions() {
  std::vector<SessionInfo> sessions;
  std::lock_guard lock(mu_);
  for (auto& c : conns_) {
    if (c->session && !c->done) sessions.push_back(c->session->Info());
  }
  return sessions;
}

std::string Server::StatusJson() {
  std::vector<SessionInfo> sessions = Sessions();
  StatusView v;
  v.version = PCCHECK_VERSION;
  v.uptime_s = clock_->WallSeconds() - started_at_;
  v.gpu = gpu_;
  v.socket = options_.socket;
  v.config_json = options_.config_summary_json;
  v.sessions = std::move(sessions);
  v.inflight = engine_->Inflight();
  v.stats = engine_->Stats();
  v.progress = engine_->Progress();
  v.unreadable = engine_->Unreadable();
  return RenderStatusJson(v);
}

}  // namespace pccheck
