// Where pccheckd keeps its store and its socket when not told: the one
// derivation that pccheckd's settings (root, socket), libpccheck (and through
// its C ABI the Python package) and `pccheck` all use.
//
// Both depend on who asks (the effective uid) and on the environment, read at
// each call; nothing is cached. Thread-safe as long as nobody changes the
// environment meanwhile.
#pragma once

#include <string>

namespace pccheck {

// The rules, as docs/settings.md and --help state them.
inline constexpr char kDefaultRootRule[] =
    "/var/lib/pccheck as root; otherwise $XDG_STATE_HOME/pccheck, or ~/.local/state/pccheck";
inline constexpr char kDefaultSocketRule[] =
    "/run/pccheck/pccheckd.sock as root; otherwise $XDG_RUNTIME_DIR/pccheck/pccheckd.sock, or "
    "/tmp/pccheck-<uid>/pccheckd.sock";

// The store directory by kDefaultRootRule ($XDG_STATE_HOME only when absolute;
// the home directory from $HOME, else the password database). "" when no
// home directory can be found.
std::string DefaultStoreRoot();

// The daemon's socket by kDefaultSocketRule ($XDG_RUNTIME_DIR only when
// absolute). Never empty. Clients put $PCCHECK_SOCKET first
// (pccheck::DefaultSocketPath() in pccheck/client.h).
std::string DefaultDaemonSocket();

}  // namespace pccheck
