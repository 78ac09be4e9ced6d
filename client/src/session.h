// One connection to pccheckd: the socket, the control segment with its two
// rings and the blob slots, and the two eventfds (protocol steps 1 and 2).
//
// A Session exists only after a complete handshake. Once any transport or
// protocol failure happens (EOF, a frame that does not decode, an impossible
// ring index) the session is broken for good: broken() is true, broken_reason()
// says why, and its owner drops it and reconnects later. A kError reply to a
// request is not a transport failure: Call returns its status and the session
// stays usable.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ipc/ring.h"
#include "ipc/shm.h"
#include "ipc/socket.h"
#include "pccheck/client.h"
#include "proto/wire.h"

namespace pccheck::client {

// How long a control request may go unanswered before the daemon counts as
// gone (restore has no limit: it may read gigabytes from disk).
inline constexpr int kControlTimeoutMs = 60'000;
inline constexpr int kNoTimeout = -1;
// Call(): accept a reply with any number of fds (and close them).
inline constexpr size_t kAnyFds = SIZE_MAX;

class Session {
 public:
  // Connects to `socket` and performs the handshake. Unavailable naming the
  // socket when nobody listens; the daemon's own status on a kError reply
  // (PermissionDenied for a refused user); Corruption for a bad Welcome.
  static Result<std::unique_ptr<Session>> Open(const std::string& socket, const std::string& job,
                                               uint32_t rank);
  ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends one request (with `fds`, still owned by the caller) and receives its
  // reply, which must be of type `reply` and carry exactly `reply_fds` fds.
  Result<Frame> Call(wire::MsgType type, const std::string& payload, wire::MsgType reply,
                     size_t reply_fds = 0, const std::vector<int>& fds = {},
                     int timeout_ms = kControlTimeoutMs);
  // Marks the session broken (a reply that does not decode) and returns `why`.
  Status Fail(Status why);
  // Best effort: tells the daemon this session ends in order.
  void Goodbye();

  // Appends every waiting completion to `out` (decoded and checked). A ring
  // index or message that makes no sense breaks the session.
  Status PopCompletions(std::vector<wire::CompletionMsg>* out);
  // False when the request ring is full. Wakes the daemon on success.
  Result<bool> PushSave(const wire::SaveMsg& msg);
  // The blob slot's bytes (welcome().blob_slot_bytes of them). REQUIRES: slot < blob_slots.
  uint8_t* blob(uint32_t slot) const;

  // Sleeps until a completion wake-up, a change on the socket, or the timeout
  // (ok in all three cases: the caller re-checks its condition). When the
  // socket shows the daemon is gone, breaks the session and returns why.
  Status WaitForEvent(int timeout_ms);
  // The same check without sleeping.
  Status CheckAlive() { return WaitForEvent(0); }

  const wire::Welcome& welcome() const { return welcome_; }
  const std::string& socket_path() const { return socket_.path(); }
  bool broken() const { return !broken_reason_.ok(); }
  const Status& broken_reason() const { return broken_reason_; }

 private:
  Session() = default;
  Status Handshake(const std::string& job, uint32_t rank);
  Status MapSegment(Frame& welcome_frame);
  Status SocketEvent();

  UnixSocket socket_;
  wire::Welcome welcome_;
  wire::SegmentLayout layout_;
  std::unique_ptr<SharedMemory> segment_;
  wire::RingView requests_;
  wire::RingView completions_;
  EventFd request_event_;
  EventFd completion_event_;
  Status broken_reason_;
};

}  // namespace pccheck::client
