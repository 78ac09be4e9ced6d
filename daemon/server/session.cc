#include "server/session.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <set>

namespace pccheck {

namespace {

constexpr size_t kMaxOverflow = 4096;

std::string Who(const wire::Hello& h, const PeerCred& p) {
  return "job " + h.job + " rank " + std::to_string(h.rank) + " (pid " + std::to_string(p.pid) +
         ")";
}

}  // namespace

// ---- Outbox -------------------------------------------------------------------

struct Session::Outbox {
  std::mutex mu;
  std::shared_ptr<SharedMemory> segment;  // keeps the ring's memory alive
  wire::RingView ring;
  EventFd wake;
  std::deque<std::array<uint8_t, wire::kRingMessageBytes>> overflow;
  bool broken = false;  // the client stopped draining completions

  void Post(const wire::CompletionMsg& m) {
    std::array<uint8_t, wire::kRingMessageBytes> buf{};
    wire::EncodeCompletion(m, buf.data());
    std::lock_guard lock(mu);
    if (overflow.empty() && ring.TryPush(buf.data())) {
      (void)wake.Signal();
      return;
    }
    if (overflow.size() >= kMaxOverflow) {
      broken = true;
      return;
    }
    overflow.push_back(buf);
  }

  void Flush() {
    std::lock_guard lock(mu);
    bool pushed = false;
    while (!overflow.empty() && ring.TryPush(overflow.front().data())) {
      overflow.pop_front();
      pushed = true;
    }
    if (pushed) (void)wake.Signal();
  }

  bool IsBroken() {
    std::lock_guard lock(mu);
    return broken;
  }
};

// ---- Session ------------------------------------------------------------------

Session::Session(uint64_t id, UnixSocket socket, const PeerCred& peer, const wire::Hello& hello,
                 const SessionLimits& limits, Engine* engine, Gpu* gpu, int64_t now)
    : id_(id),
      socket_(std::move(socket)),
      peer_(peer),
      hello_(hello),
      limits_(limits),
      engine_(engine),
      connected_at_(now),
      gpu_(gpu, static_cast<uint32_t>(engine->options().max_inflight) + 1) {}

Session::~Session() { Teardown(); }

Result<std::shared_ptr<Session>> Session::Open(uint64_t id, UnixSocket socket, const PeerCred& peer,
                                               const wire::Hello& hello,
                                               const SessionLimits& limits, Engine* engine,
                                               Gpu* gpu, int64_t now) {
  auto s = std::shared_ptr<Session>(
      new Session(id, std::move(socket), peer, hello, limits, engine, gpu, now));
  PCC_RETURN_IF_ERROR(s->Handshake());
  return s;
}

Status Session::Handshake() {
  PCC_ASSIGN_OR_RETURN(layout_, wire::SegmentLayout::For(limits_.ring_slots, limits_.blob_slots,
                                                         limits_.blob_slot_bytes));
  PCC_ASSIGN_OR_RETURN(auto seg, SharedMemory::Create("pccheck-session-" + std::to_string(id_),
                                                      layout_.total_bytes));
  segment_ = std::move(seg);
  requests_ = wire::RingView(segment_->data() + layout_.request_ring, layout_.ring_slots, true);
  outbox_ = std::make_shared<Outbox>();
  outbox_->segment = segment_;
  outbox_->ring =
      wire::RingView(segment_->data() + layout_.completion_ring, layout_.ring_slots, true);
  PCC_ASSIGN_OR_RETURN(request_event_, EventFd::Create());
  PCC_ASSIGN_OR_RETURN(completion_event_, EventFd::Create());
  PCC_ASSIGN_OR_RETURN(stop_event_, EventFd::Create());
  // The outbox signals through its own descriptor so it can outlive us.
  int dup_fd = ::dup(completion_event_.fd());
  if (dup_fd < 0) return Status::FromErrno(errno, "dup completion eventfd");
  outbox_->wake = EventFd::Adopt(Fd(dup_fd));

  wire::Welcome w;
  w.session_id = id_;
  w.segment_bytes = layout_.total_bytes;
  w.ring_slots = layout_.ring_slots;
  w.blob_slots = layout_.blob_slots;
  w.blob_slot_bytes = layout_.blob_slot_bytes;
  w.max_inflight = static_cast<uint32_t>(engine_->options().max_inflight);
  w.chunk_bytes = engine_->options().chunk_bytes;
  w.daemon_version = PCCHECK_VERSION;
  return socket_.Send(wire::MsgType::kWelcome, wire::Encode(w),
                      {segment_->fd(), request_event_.fd(), completion_event_.fd()});
}

bool Session::PeerGone() const {
  pollfd p{socket_.fd(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

Status Session::Serve() {
  spdlog::info("session {}: {} connected (uid {})", id_, Who(hello_, peer_), peer_.uid);
  Status why;
  for (;;) {
    outbox_->Flush();
    if (outbox_->IsBroken()) {
      why = Status::Aborted("client stopped reading completions (" + std::to_string(kMaxOverflow) +
                            " pending)");
      break;
    }
    why = HandleRing();
    if (!why.ok()) break;
    pollfd fds[3] = {
        {socket_.fd(), POLLIN, 0}, {request_event_.fd(), POLLIN, 0}, {stop_event_.fd(), POLLIN, 0}};
    int n = ::poll(fds, 3, 1000);
    if (n < 0 && errno != EINTR) {
      why = Status::FromErrno(errno, "poll");
      break;
    }
    if (fds[2].revents) {
      why = Status::Aborted("pccheckd is shutting down");
      break;
    }
    if (fds[1].revents) request_event_.Drain();
    if (fds[0].revents) {
      auto frame = socket_.Receive(5000);
      if (!frame.ok()) {
        why = frame.status().code() == Code::kUnavailable
                  ? Status::Unavailable("client disconnected")
                  : frame.status();
        break;
      }
      if (frame->type == wire::MsgType::kGoodbye) {
        why = Status::Ok();
        break;
      }
      why = HandleFrame(frame.value());
      if (!why.ok()) break;
    }
  }
  if (why.ok() || why.code() == Code::kUnavailable) {
    spdlog::info("session {}: {} left: {}", id_, Who(hello_, peer_),
                 why.ok() ? "goodbye" : why.message());
  } else {
    spdlog::warn("session {}: dropping {}: {}", id_, Who(hello_, peer_), why.ToString());
  }
  Teardown();
  return why;
}

void Session::Stop() { (void)stop_event_.Signal(); }

void Session::Teardown() {
  std::vector<std::shared_ptr<SaveHandle>> inflight;
  {
    std::lock_guard lock(mu_);
    inflight.swap(inflight_);
  }
  for (auto& h : inflight) {
    if (h->done() || h->snapshot_done()) continue;  // in daemon memory: it still commits
    engine_->Cancel(
        h, Status::Aborted("client " + Who(hello_, peer_) + " left before the snapshot of step " +
                           std::to_string(h->step()) + " completed"));
  }
  // GPU memory and events go once the saves still using them end (they hold
  // their own references).
  table_.device_memory.clear();
  gpu_.Clear();
}

SessionInfo Session::Info() const {
  std::lock_guard lock(mu_);
  SessionInfo i;
  i.id = id_;
  i.job = hello_.job;
  i.rank = hello_.rank;
  i.pid = peer_.pid;
  i.uid = peer_.uid;
  i.connected_at = connected_at_;
  i.saves = saves_;
  i.table_bytes = table_.bytes;
  i.devices = table_.devices;
  i.host_tensors = table_.host;
  i.inflight = static_cast<int>(
      std::count_if(inflight_.begin(), inflight_.end(), [](auto& h) { return !h->done(); }));
  return i;
}

Status Session::ReplyError(const Status& s) {
  wire::ErrorReply e;
  e.code = static_cast<uint32_t>(s.code());
  e.message = s.message();
  return socket_.Send(wire::MsgType::kError, wire::Encode(e));
}

Status Session::HandleFrame(const Frame& frame) {
  switch (frame.type) {
    case wire::MsgType::kAllocArena:
    case wire::MsgType::kAdoptArena:
      return HandleAllocArena(frame);
    case wire::MsgType::kRegister:
      return HandleRegister(frame);
    case wire::MsgType::kRestore:
      return HandleRestore(frame);
    case wire::MsgType::kList:
      return HandleList();
    case wire::MsgType::kGpuSetup:
      return HandleGpuSetup(frame);
    default:
      return Status::InvalidArgument("unexpected message type " +
                                     std::to_string(static_cast<int>(frame.type)));
  }
}

// ---- the ring: saves ------------------------------------------------------------

Status Session::HandleRing() {
  std::array<uint8_t, wire::kRingMessageBytes> buf;
  for (;;) {
    PCC_ASSIGN_OR_RETURN(bool got, requests_.TryPop(buf.data()));
    if (!got) return Status::Ok();
    PCC_ASSIGN_OR_RETURN(wire::SaveMsg msg, wire::DecodeSave(buf.data()));
    PCC_RETURN_IF_ERROR(HandleSave(msg));
  }
}

Status Session::HandleSave(const wire::SaveMsg& msg) {
  auto fail = [&](const Status& s) {
    outbox_->Post(
        {wire::RingType::kFailed, msg.seq, msg.step, static_cast<uint32_t>(s.code()), s.message()});
    return Status::Ok();
  };
  if (msg.table_version != table_.version || table_.version == 0) {
    return fail(Status::InvalidArgument(
        "save of step " + std::to_string(msg.step) + " names tensor table version " +
        std::to_string(msg.table_version) + " but the registered one is " +
        std::to_string(table_.version) + " (register the tensors first)"));
  }
  if (msg.blob_slot >= layout_.blob_slots || msg.blob_bytes > layout_.blob_slot_bytes) {
    return fail(Status::InvalidArgument("save of step " + std::to_string(msg.step) +
                                        ": blob slot or size out of range"));
  }
  SaveRequest req;
  req.job = hello_.job;
  req.rank = hello_.rank;
  req.step = msg.step;
  req.tensors = table_.sources;
  // Copied out once: the client may reuse the slot as soon as we answer.
  req.user_blob.assign(
      reinterpret_cast<const char*>(segment_->data() + layout_.BlobOffset(msg.blob_slot)),
      msg.blob_bytes);
  std::shared_ptr<const GpuEvents> events;
  if (!table_.devices.empty()) {
    Status ordered = OrderWithTrainer(msg, &req, &events);
    if (!ordered.ok()) return fail(ordered.Annotate("step " + std::to_string(msg.step)));
    // Posted only after the done events are recorded: the client waits on
    // them from this message on (session_gpu.cc).
    req.on_copies_queued = [outbox = outbox_, seq = msg.seq, step = msg.step] {
      outbox->Post({wire::RingType::kCopiesQueued, seq, step, 0, ""});
    };
  }
  auto handle = engine_->Save(std::move(req));
  if (!handle.ok()) return fail(handle.status().Annotate("step " + std::to_string(msg.step)));

  auto h = handle.value();
  {
    std::lock_guard lock(mu_);
    ++saves_;
    std::erase_if(inflight_, [](auto& x) { return x->done(); });
    inflight_.push_back(h);
  }
  // The callbacks keep the outbox, the arenas and the GPU memory and events
  // alive, not the session: a snapshot in daemon memory commits even when the
  // client is gone, and nothing is closed under a copy.
  std::vector<std::shared_ptr<SharedMemory>> arenas;
  for (auto& [id, a] : arenas_) arenas.push_back(a);
  auto outbox = outbox_;
  const uint64_t seq = msg.seq, step = msg.step;
  h->SetOnSnapshot([outbox, seq, step] {
    outbox->Post({wire::RingType::kSnapshotDone, seq, step, 0, ""});
  });
  std::weak_ptr<SaveHandle> weak = h;
  h->SetOnDone([outbox, seq, step, weak, arenas = std::move(arenas), memory = table_.device_memory,
                events = std::move(events)](const Status& s) mutable {
    auto self = weak.lock();
    if (s.ok() && self && self->coalesced()) {
      outbox->Post({wire::RingType::kCoalesced, seq, step, 0, ""});
    } else if (s.ok()) {
      outbox->Post({wire::RingType::kCommitted, seq, step, 0, ""});
    } else {
      outbox->Post(
          {wire::RingType::kFailed, seq, step, static_cast<uint32_t>(s.code()), s.message()});
    }
    arenas.clear();
    memory.clear();
    events.reset();
  });
  return Status::Ok();
}

// ---- control frames ---------------------------------------------------------------

Status Session::HandleAllocArena(const Frame& frame) {
  std::shared_ptr<SharedMemory> arena;
  if (frame.type == wire::MsgType::kAllocArena) {
    PCC_ASSIGN_OR_RETURN(auto req, wire::DecodeAllocArena(frame.payload));
    if (req.bytes == 0 || req.bytes > limits_.max_arena_bytes) {
      return ReplyError(Status::InvalidArgument("arena of " + std::to_string(req.bytes) +
                                                " bytes is out of range"));
    }
    auto shm = SharedMemory::Create(
        "pccheck-arena-" + hello_.job + "-" + std::to_string(hello_.rank), req.bytes);
    if (!shm.ok()) return ReplyError(shm.status());
    arena = std::move(shm).value();
  } else {
    PCC_ASSIGN_OR_RETURN(auto req, wire::DecodeArena(frame.payload));
    if (frame.fds.size() != 1) {
      return Status::InvalidArgument("adopting an arena needs exactly one descriptor");
    }
    int fd = const_cast<Fd&>(frame.fds[0]).release();
    auto shm = SharedMemory::Map(fd, req.bytes);
    if (!shm.ok()) return ReplyError(shm.status());
    arena = std::move(shm).value();
  }
  const uint32_t id = next_arena_++;
  arenas_[id] = arena;
  wire::Arena reply{id, arena->size()};
  return socket_.Send(wire::MsgType::kArena, wire::Encode(reply), {arena->fd()});
}

Status Session::HandleRegister(const Frame& frame) {
  PCC_ASSIGN_OR_RETURN(auto reg, wire::DecodeRegister(frame.payload));
  Registered table;
  std::set<std::string> names;
  for (const auto& t : reg.tensors) {
    const std::string what = "tensor '" + t.name + "'";
    if (!names.insert(t.name).second) {
      return ReplyError(Status::InvalidArgument(what + " appears twice"));
    }
    TensorSource s;
    if (t.location == wire::Location::kCudaIpc) {
      auto placed = DeviceSource(t, &table);
      if (!placed.ok()) return ReplyError(placed.status().Annotate(what));
      s = std::move(placed).value();
    } else {
      auto a = arenas_.find(t.arena_id);
      if (a == arenas_.end()) {
        return ReplyError(
            Status::InvalidArgument(what + " names unknown arena " + std::to_string(t.arena_id)));
      }
      const uint64_t size = a->second->size();
      if (t.offset > size || t.bytes > size - t.offset) {
        return ReplyError(Status::InvalidArgument(
            what + " (" + std::to_string(t.bytes) + " bytes at offset " + std::to_string(t.offset) +
            ") does not lie inside its arena of " + std::to_string(size) + " bytes"));
      }
      s.data = a->second->data() + t.offset;
      table.host = true;
    }
    s.meta.name = t.name;
    s.meta.dtype = t.dtype;
    s.meta.shape = t.shape;
    s.meta.bytes = t.bytes;
    table.sources.push_back(std::move(s));
    table.bytes += t.bytes;
  }
  // Only a table that is whole replaces the previous one.
  table.version = table_.version + 1;
  {
    std::lock_guard lock(mu_);  // Info() reads it from the server's thread
    table_ = std::move(table);
  }
  return socket_.Send(wire::MsgType::kRegistered,
                      wire::Encode(wire::Registered{table_.version, table_.bytes}));
}

Status Session::HandleRestore(const Frame& frame) {
  PCC_ASSIGN_OR_RETURN(auto req, wire::DecodeRestore(frame.payload));
  std::map<std::string, TensorDest> dests;
  // GPU tensors are written through the daemon's IPC mapping of them (or,
  // in staging mode, into the staging buffer the client copies back from).
  for (const auto& s : table_.sources) {
    dests[s.meta.name] = TensorDest{s.device, const_cast<void*>(s.data), s.meta.bytes};
  }
  auto r = engine_->Restore(hello_.job, hello_.rank, req.step, dests);
  if (!r.ok()) return ReplyError(r.status());
  wire::Restored reply;
  reply.step = r->step;
  reply.user_blob = r->user_blob;
  reply.bytes = r->bytes_read;
  reply.source = r->source;
  reply.skipped = r->skipped;
  return socket_.Send(wire::MsgType::kRestored, wire::Encode(reply));
}

Status Session::HandleList() {
  wire::ListReply reply;
  for (const auto& c : engine_->List()) {
    if (c.job != hello_.job || c.rank != hello_.rank || c.state != "committed") continue;
    reply.entries.push_back({c.step, c.bytes, c.wall_time, c.latest});
  }
  return socket_.Send(wire::MsgType::kListed, wire::Encode(reply));
}

}  // namespace pccheck
