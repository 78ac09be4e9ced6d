#include "cli/store_access.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "cli/checkpoint_json.h"
#include "cli/command_args.h"
#include "cli/commands.h"
#include "io/store_lock.h"
#include "ipc/socket.h"

namespace pccheck::cli {

namespace {

// How long to wait for the daemon's next frame. A verify sends progress far
// more often; a list or a prune answers at once.
constexpr int kReplyTimeoutMs = 120'000;

Result<UnixSocket> Ask(const std::string& socket, wire::MsgType type, const std::string& payload) {
  PCC_ASSIGN_OR_RETURN(UnixSocket sock, UnixSocket::Connect(socket));
  Status sent = sock.Send(type, payload);
  // Refused at once: the reason waits in the socket for Expect to read.
  if (!sent.ok() && !sock.HasPendingInput()) return sent.Annotate("asking pccheckd at " + socket);
  return sock;
}

// The next frame, which must be `want` (or kVerifyProgress when
// allow_progress); a kError becomes its status.
Result<Frame> Expect(UnixSocket& sock, wire::MsgType want, bool allow_progress = false,
                     int timeout_ms = kReplyTimeoutMs) {
  auto frame = sock.Receive(timeout_ms);
  if (!frame.ok()) {
    return frame.status().Annotate("waiting for pccheckd at " + sock.path() +
                                   " (an older pccheckd closes the connection on requests it "
                                   "does not know: use --root DIR to read the store directly)");
  }
  if (frame->type == wire::MsgType::kError) {
    auto e = wire::DecodeErrorReply(frame->payload);
    if (!e.ok()) return e.status().Annotate("error reply from " + sock.path());
    if (e->code == 0 || !IsKnownCode(e->code)) {
      return Status::Internal("pccheckd at " + sock.path() + ": " + e->message);
    }
    return Status(static_cast<Code>(e->code), e->message);
  }
  if (frame->type == want || (allow_progress && frame->type == wire::MsgType::kVerifyProgress)) {
    return frame;
  }
  return Status::Corruption("pccheckd at " + sock.path() + " answered with message type " +
                            std::to_string(static_cast<unsigned>(frame->type)));
}

bool SameDirectory(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) && !ec;
}

bool Alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// The answer to a kStoreList sent on sock.
Result<std::vector<CheckpointInfo>> ListedOn(UnixSocket& sock, std::string* root, int timeout_ms) {
  PCC_ASSIGN_OR_RETURN(Frame frame, Expect(sock, wire::MsgType::kStoreListed, false, timeout_ms));
  PCC_ASSIGN_OR_RETURN(wire::StoreListed listed, wire::DecodeStoreListed(frame.payload));
  if (root != nullptr) *root = listed.root;
  std::vector<CheckpointInfo> out;
  out.reserve(listed.checkpoints.size());
  for (const wire::StoreListed::Entry& e : listed.checkpoints) out.push_back(FromWire(e));
  return out;
}

}  // namespace

Result<std::vector<CheckpointInfo>> DaemonList(const std::string& socket, std::string* root) {
  PCC_ASSIGN_OR_RETURN(UnixSocket sock, Ask(socket, wire::MsgType::kStoreList, ""));
  return ListedOn(sock, root, kReplyTimeoutMs);
}

Result<wire::Verified> DaemonVerify(const std::string& socket, const wire::Verify& request,
                                    const std::function<void(uint64_t)>& progress) {
  PCC_ASSIGN_OR_RETURN(UnixSocket sock, Ask(socket, wire::MsgType::kVerify, wire::Encode(request)));
  uint64_t reported = 0;
  for (;;) {
    PCC_ASSIGN_OR_RETURN(Frame frame, Expect(sock, wire::MsgType::kVerified, true));
    if (frame.type == wire::MsgType::kVerifyProgress) {
      PCC_ASSIGN_OR_RETURN(wire::VerifyProgress p, wire::DecodeVerifyProgress(frame.payload));
      if (p.bytes > reported && progress) progress(p.bytes - reported);
      reported = std::max(reported, p.bytes);
      continue;
    }
    PCC_ASSIGN_OR_RETURN(wire::Verified v, wire::DecodeVerified(frame.payload));
    if (v.bytes > reported && progress) progress(v.bytes - reported);
    return v;
  }
}

Result<wire::Pruned> DaemonPrune(const std::string& socket, const wire::Prune& request) {
  PCC_ASSIGN_OR_RETURN(UnixSocket sock, Ask(socket, wire::MsgType::kPrune, wire::Encode(request)));
  PCC_ASSIGN_OR_RETURN(Frame frame, Expect(sock, wire::MsgType::kPruned));
  return wire::DecodePruned(frame.payload);
}

Result<StoreSource> FindStore(const std::string& root, const std::string& socket) {
  StoreSource src;
  if (!socket.empty()) {
    src.socket = socket;
    PCC_ASSIGN_OR_RETURN(src.listed, DaemonList(socket, &src.root));
    return src;
  }
  std::error_code ec;
  if (root.empty() || !std::filesystem::is_directory(root, ec)) {
    return Status::NotFound("no checkpoint store at '" + root +
                            "': the directory does not exist. Pass --root with the directory "
                            "that `pccheck bench --root` or the daemon writes its store to");
  }
  src.root = root;
  auto holder = ReadStoreLockHolder(root);
  if (!holder.ok()) return src;  // nobody writes it
  // No connection (a killed daemon's lock file): read directly, no note.
  auto sock = holder->socket.empty() ? Result<UnixSocket>(Status::NotFound("no socket"))
                                     : Ask(holder->socket, wire::MsgType::kStoreList, "");
  if (sock.ok()) {
    std::string daemon_root;
    auto listed = ListedOn(*sock, &daemon_root, kLockSocketTimeoutMs);
    // A daemon answers there and it is this store's: ask it.
    if (listed.ok() && SameDirectory(daemon_root, root)) {
      src.socket = holder->socket;
      src.listed = std::move(listed).value();
      return src;
    }
    if (!listed.ok()) {
      src.unanswered = holder->socket + ", named by " + StoreLockPath(root) +
                       ", accepted the connection but gave no list within " +
                       std::to_string(kLockSocketTimeoutMs / 1000) + " s (" +
                       listed.status().message() +
                       "), so the store is read directly; pass --socket " + holder->socket +
                       " to wait for that daemon instead";
    }
  }
  if (Alive(holder->pid) && holder->pid != ::getpid()) {
    src.other_writer = (holder->owner.empty() ? "another process" : holder->owner) + " (pid " +
                       std::to_string(holder->pid) + ")";
  }
  return src;
}

Result<OfflineStore> OpenOfflineStore(const std::string& root, bool read_only) {
  OfflineStore store;
  store.fs = NewPosixFileSystem();
  if (root.empty() || !store.fs->Exists(root)) {
    return Status::NotFound("no checkpoint store at '" + root +
                            "': the directory does not exist. Pass --root with the directory "
                            "that `pccheck bench --root` or the daemon writes its store to");
  }
  store.gpu = NewFakeGpu();
  EngineOptions eo;
  eo.root = root;
  eo.read_only = read_only;
  eo.chunk_bytes = 1ull << 20;
  eo.pool_bytes = 2 * eo.chunk_bytes;
  eo.writers = 2;
  PCC_ASSIGN_OR_RETURN(store.engine, Engine::Open(eo, store.fs.get(), store.gpu.get()));
  return store;
}

void AddStore(CLI::App* cmd, std::string* root, std::string* socket) {
  CLI::Option* r =
      cmd->add_option("--root", *root,
                      "Store directory; when a pccheckd owns it (its lock file names a socket "
                      "that answers within " +
                          std::to_string(kLockSocketTimeoutMs / 1000) +
                          " s), the daemon is asked instead of the disk")
          ->type_name("DIR");
  cmd->add_option("--socket", *socket, "Ask the pccheckd listening here about its store")
      ->type_name("PATH")
      ->excludes(r);
}

bool CheckStore(const char* command, const std::string& root, const std::string& socket) {
  if (!root.empty() || !socket.empty()) return true;
  std::fprintf(stderr,
               "pccheck %s: --root DIR (a store directory) or --socket PATH (a running pccheckd) "
               "is required\nRun with --help for more information.\n",
               command);
  return false;
}

}  // namespace pccheck::cli
