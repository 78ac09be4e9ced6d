// How `pccheck list`, `verify` and `prune` reach a store: through the
// pccheckd that owns it (asked over its socket, proto/store_wire.h), or by
// reading the directory directly when no daemon runs there.
//
// The daemon is found from --socket, or from the store's lock file
// (io/store_lock.h) when it names a socket that answers and whose daemon
// serves this very directory; a lock file left by a killed daemon, or one
// held by `pccheck bench`, means reading directly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gpu/gpu.h"
#include "io/file_system.h"
#include "proto/store_wire.h"

namespace pccheck::cli {

struct StoreSource {
  std::string socket;  // non-empty: ask the daemon listening here
  std::string root;    // the store directory (the daemon's, when asking one)
  // With a daemon: its list, fetched while finding it.
  std::vector<CheckpointInfo> listed;
  // Direct reads only: who else is writing the store, for a note on stderr
  // ("pccheck bench (pid 12)"); empty when nobody is.
  std::string other_writer;
  // Direct reads only: why the daemon the lock file names was not asked,
  // when its socket accepted but did not answer; empty otherwise.
  std::string unanswered;
};

// How long FindStore waits for the answer of a daemon that a store's lock
// file names before it reads the directory itself: a daemon lists at once,
// so a socket that stays silent this long is not one worth waiting for.
inline constexpr int kLockSocketTimeoutMs = 5'000;

// Exactly one of root and socket is non-empty (main.cc checks). With socket,
// the daemon there; with root, its daemon if one runs there (see above),
// else the directory: NotFound, naming --root, when it does not exist. A
// daemon found from the lock file is given kLockSocketTimeoutMs to answer.
// Unavailable naming the socket when a daemon given by --socket does not
// answer.
Result<StoreSource> FindStore(const std::string& root, const std::string& socket);

// An engine on an existing store for offline commands, with a tiny pool and
// the fake GPU (host memory is all they need). read_only: recovery changes
// nothing; otherwise the caller must hold the store lock.
struct OfflineStore {
  std::unique_ptr<FileSystem> fs;
  std::unique_ptr<Gpu> gpu;
  std::unique_ptr<Engine> engine;  // declared last: goes first
};
Result<OfflineStore> OpenOfflineStore(const std::string& root, bool read_only);

// The store requests. Each opens a connection of its own; errors name the
// socket; each waits up to 120 s for the daemon's next frame. `progress`
// gets the bytes checked as the daemon reports them.
Result<std::vector<CheckpointInfo>> DaemonList(const std::string& socket, std::string* root);
Result<wire::Verified> DaemonVerify(const std::string& socket, const wire::Verify& request,
                                    const std::function<void(uint64_t)>& progress);
Result<wire::Pruned> DaemonPrune(const std::string& socket, const wire::Prune& request);

}  // namespace pccheck::cli
