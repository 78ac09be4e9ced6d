// The store requests pccheckd answers for `pccheck list`, `verify` and
// `prune` (proto/store_wire.h): the daemon lists, verifies and prunes
// through its own engine, under the engine's locks, so these commands never
// race the daemon's writes to its store.
//
// Thread-safety: called on a connection's own thread; the engine is
// thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "engine/engine.h"
#include "ipc/socket.h"

namespace pccheck {

// kStoreList, kVerify and kPrune; not their replies.
bool IsStoreRequest(wire::MsgType type);

// Whether the peer may see and use a job: ok, or why not (PermissionDenied
// naming the job and its owner). Null: every job.
using JobAccess = std::function<Status(const std::string& job)>;

// Answers `frame`, the first frame of `socket` (from pid `peer`, already
// authorized), and returns when the answer is sent or the peer has gone.
// A malformed request or a failure is answered with kError. The listing
// holds only the jobs `access` allows, verify and prune of another job are
// refused with its reason, and a prune of every job prunes the allowed ones.
void ServeStoreRequest(Engine* engine, UnixSocket& socket, const Frame& frame, pid_t peer,
                       const JobAccess& access = {});

}  // namespace pccheck
