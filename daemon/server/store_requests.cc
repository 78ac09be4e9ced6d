#include "server/store_requests.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>

#include "base/size_parse.h"
#include "proto/store_wire.h"

namespace pccheck {

namespace {

// Progress frames at most this often: enough for a progress bar, and a
// client waits for the next frame with a timeout, so a long verify is
// never mistaken for a hung daemon.
constexpr auto kProgressEvery = std::chrono::milliseconds(200);

void SendError(UnixSocket& socket, const Status& s) {
  (void)socket.Send(wire::MsgType::kError,
                    wire::Encode(wire::ErrorReply{static_cast<uint32_t>(s.code()), s.message()}));
}

void ServeVerify(Engine* engine, UnixSocket& socket, const wire::Verify& req) {
  std::mutex mu;
  uint64_t done = 0;
  auto last = std::chrono::steady_clock::now();
  auto progress = [&](uint64_t n) {
    std::lock_guard lock(mu);
    done += n;
    const auto now = std::chrono::steady_clock::now();
    if (now - last < kProgressEvery) return;
    last = now;
    (void)socket.Send(wire::MsgType::kVerifyProgress, wire::Encode(wire::VerifyProgress{done}));
  };
  const Status s = engine->Verify(req.job, req.rank, req.step, progress);
  (void)socket.Send(
      wire::MsgType::kVerified,
      wire::Encode(wire::Verified{static_cast<uint32_t>(s.code()), s.message(), done}));
}

void ServePrune(Engine* engine, UnixSocket& socket, const wire::Prune& req, pid_t peer,
                const JobAccess& access) {
  PruneRequest pr;
  if (access) pr.job_filter = [&](const std::string& job) { return access(job).ok(); };
  pr.keep = req.keep;
  pr.job = req.job;
  pr.rank = req.rank;
  pr.dry_run = req.dry_run;
  auto pruned = engine->Prune(pr);
  if (!pruned.ok()) {
    spdlog::warn("prune asked by pid {}: {}", peer, pruned.status().ToString());
    return SendError(socket, pruned.status());
  }
  wire::Pruned reply;
  reply.dry_run = req.dry_run;
  for (const PrunedInfo& p : *pruned) {
    if (!req.dry_run) {
      spdlog::info("pruned kept step {} of job {} rank {} ({}), asked by pid {}", p.step, p.job,
                   p.rank, FormatSize(p.bytes), peer);
    }
    reply.removed.push_back({p.job, p.rank, p.step, p.bytes});
  }
  (void)socket.Send(wire::MsgType::kPruned, wire::Encode(reply));
}

}  // namespace

bool IsStoreRequest(wire::MsgType type) {
  return type == wire::MsgType::kStoreList || type == wire::MsgType::kVerify ||
         type == wire::MsgType::kPrune;
}

namespace {

// The engine's list as kStoreListed: each CheckpointInfo field by field
// (cli/checkpoint_json.h reads them back the same way).
wire::StoreListed Listing(Engine& engine, const JobAccess& access) {
  wire::StoreListed out;
  out.root = engine.options().root;
  for (const CheckpointInfo& c : engine.List()) {
    if (access && !access(c.job).ok()) continue;
    out.checkpoints.push_back(
        {c.job, c.rank, c.step, c.slot, c.bytes, c.wall_time, c.latest, c.kept, c.state});
  }
  return out;
}

}  // namespace

void ServeStoreRequest(Engine* engine, UnixSocket& socket, const Frame& frame, pid_t peer,
                       const JobAccess& access) {
  switch (frame.type) {
    case wire::MsgType::kStoreList: {
      if (!frame.payload.empty()) {
        return SendError(socket, Status::InvalidArgument("kStoreList carries no payload"));
      }
      spdlog::debug("pid {}: store list request", peer);
      (void)socket.Send(wire::MsgType::kStoreListed, wire::Encode(Listing(*engine, access)));
      return;
    }
    case wire::MsgType::kVerify: {
      auto req = wire::DecodeVerify(frame.payload);
      if (!req.ok()) return SendError(socket, req.status());
      spdlog::debug("pid {}: verify request for job {} rank {} step {}", peer, req->job, req->rank,
                    req->step);
      if (access) {
        if (Status s = access(req->job); !s.ok()) return SendError(socket, s);
      }
      return ServeVerify(engine, socket, *req);
    }
    case wire::MsgType::kPrune: {
      auto req = wire::DecodePrune(frame.payload);
      if (!req.ok()) return SendError(socket, req.status());
      spdlog::info("pid {}: prune request: keep {} of {} {}{}", peer, req->keep,
                   req->job ? "job " + *req->job : std::string("every job"),
                   req->rank ? "rank " + std::to_string(*req->rank) : std::string("every rank"),
                   req->dry_run ? " (dry run)" : "");
      if (access && req->job) {
        if (Status s = access(*req->job); !s.ok()) return SendError(socket, s);
      }
      return ServePrune(engine, socket, *req, peer, access);
    }
    default:
      return SendError(socket, Status::InvalidArgument("not a store request"));
  }
}

}  // namespace pccheck
