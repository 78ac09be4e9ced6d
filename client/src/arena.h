// Arenas: host memory the daemon maps too (protocol step 3). The client owns
// the mapping; the daemon names an arena by an id that is only valid within
// one session, so after a reconnect every arena is adopted again under a new id.
#pragma once

#include <cstdint>
#include <memory>

#include "ipc/shm.h"
#include "session.h"

namespace pccheck::client {

struct Arena {
  uint32_t id = 0;  // in the current session
  std::unique_ptr<SharedMemory> memory;

  // Whether [p, p + bytes) lies inside the arena (overflow-safe).
  bool Contains(const void* p, uint64_t bytes) const;
  uint64_t OffsetOf(const void* p) const { return static_cast<const uint8_t*>(p) - memory->data(); }
};

// Asks the daemon for a new arena of at least `bytes` and maps it.
Result<Arena> AllocateArena(Session& session, uint64_t bytes);
// Hands an existing arena to a new session; on success arena.id is its new id.
Status AdoptArena(Session& session, Arena& arena);

}  // namespace pccheck::client
