#include "store/default_paths.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace pccheck {
namespace {

bool RunAsRoot() { return geteuid() == 0; }

// $name when set to an absolute path, else "".
std::string EnvDir(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && v[0] == '/') ? std::string(v) : std::string();
}

std::string HomeDir() {
  std::string home = EnvDir("HOME");
  if (!home.empty()) return home;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] == '/') {
    return found->pw_dir;
  }
  return "";
}

}  // namespace

std::string DefaultStoreRoot() {
  if (RunAsRoot()) return "/var/lib/pccheck";
  if (std::string state = EnvDir("XDG_STATE_HOME"); !state.empty()) return state + "/pccheck";
  std::string home = HomeDir();
  return home.empty() ? "" : home + "/.local/state/pccheck";
}

std::string DefaultDaemonSocket() {
  if (RunAsRoot()) return "/run/pccheck/pccheckd.sock";
  if (std::string run = EnvDir("XDG_RUNTIME_DIR"); !run.empty()) {
    return run + "/pccheck/pccheckd.sock";
  }
  return "/tmp/pccheck-" + std::to_string(geteuid()) + "/pccheckd.sock";
}

}  // namespace pccheck
