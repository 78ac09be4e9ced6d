// The settings table: every pccheckd setting, declared once.
//
// Defaults: a row whose default depends on who runs the daemon (root, socket,
// allow-uid) computes it and documents its rule (store/default_paths.h holds
// the root and socket rules, shared with libpccheck). Every other default is
// the value a plain DaemonConfig holds: its own initializers (settings.h) and
// EngineOptions' (engine/engine_options.h), the lowest header that both the
// engine and this table see. The table writes no default number itself; it
// renders them with the row's formatter, so help, --print-config, the docs
// and the engine's own defaults cannot disagree.
#include <sys/un.h>
#include <unistd.h>

#include <string_view>

#include "config/settings.h"
#include "proto/manifest.h"
#include "setting_values.h"
#include "store/default_paths.h"

namespace pccheck {
namespace {

using config::ExactSize;
using config::FormatBool;
using config::FormatOctalMode;
using config::JoinIds;
using config::ParseAbsolutePath;
using config::ParseBool;
using config::ParseChoice;
using config::ParseGroups;
using config::ParseInteger;
using config::ParseOctalMode;
using config::ParseSizeIn;
using config::ParseUsers;
using config::Quoted;

std::string DefaultAllowUid() { return std::to_string(geteuid()); }

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kGiB = 1ull << 30;

const Setting kSettings[] = {
    {"root", "--root", SettingType::kPath, "PATH", kDefaultRootRule, "",
     "Store directory: one directory per job and rank with its checkpoint slots and `latest`",
     "engine.root", DefaultStoreRoot,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.root, ParseAbsolutePath(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return c.engine.root; }},

    {"pool", "--pool", SettingType::kSize, "SIZE", nullptr, "bytes",
     "Page-locked host memory shared by every checkpoint on this node, allocated once at start; "
     "at least 2 chunks",
     "engine.pool_bytes", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.pool_bytes, ParseSizeIn(t, 8 * kKiB, UINT64_MAX, 1));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return ExactSize(c.engine.pool_bytes); }},

    {"chunk", "--chunk", SettingType::kSize, "SIZE", nullptr, "bytes",
     "Pipeline unit: state is copied to host memory and written in chunks of this size; a "
     "multiple of 4 KiB, at most 2 GiB",
     "engine.chunk_bytes", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.chunk_bytes, ParseSizeIn(t, 4 * kKiB, 2 * kGiB, 4 * kKiB));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return ExactSize(c.engine.chunk_bytes); }},

    {"writers", "--writers", SettingType::kInteger, "N", nullptr, "threads",
     "Writer threads that checksum and write chunks (restores read with as many), 1 to 256",
     "engine.writers", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 1, 256));
       c->engine.writers = static_cast<int>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.writers); }},

    {"checksum-threads", "--checksum-threads", SettingType::kInteger, "N", nullptr, "threads",
     "Threads that checksum snapshots as they land in memory (policy coalesce) and verify "
     "restores from memory, 0 to 256; 0 picks half the online cores, 1 to 8",
     "engine.checksum_threads", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 0, 256));
       c->engine.checksum_threads = static_cast<int>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.checksum_threads); }},

    {"max-inflight", "--max-inflight", SettingType::kInteger, "N", nullptr, "checkpoints",
     "Checkpoints of one job and rank in flight at once, 1 to 64; the store keeps this many "
     "slots plus one",
     "engine.max_inflight", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 1, 64));
       c->engine.max_inflight = static_cast<int>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.max_inflight); }},

    {"policy", "--policy", SettingType::kEnum, "coalesce|block|skip", nullptr, "",
     "When checkpoints come faster than the disk writes them: coalesce (each snapshot is taken "
     "into the pinned pool at copy speed; the disk always persists the newest one and older "
     "waiting ones end coalesced, so training never waits for the disk when the pool holds two "
     "snapshots per rank), block (every save is "
     "persisted; the trainer waits at its next optimizer step for pool memory and slots) or "
     "skip (a save the pool cannot take whole now fails at once and training never waits)",
     "engine.policy", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(std::string name, ParseChoice(t, {"coalesce", "block", "skip"}));
       PCC_ASSIGN_OR_RETURN(c->engine.policy, ParsePolicy(name));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::string(PolicyName(c.engine.policy)); }},

    {"direct-io", "--direct-io", SettingType::kBool, "BOOL", nullptr, "",
     "Write data files with O_DIRECT, bypassing the page cache; false for file systems without "
     "it (tmpfs)",
     "engine.direct_io", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.direct_io, ParseBool(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::string(FormatBool(c.engine.direct_io)); }},

    {"keep-resident", "--keep-resident", SettingType::kBool, "BOOL", nullptr, "",
     "Keep the newest checkpoint's bytes in the pool after it is written, until the pool needs "
     "the space, so a trainer restarted soon after restores it from memory instead of disk",
     "engine.keep_resident", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->engine.keep_resident, ParseBool(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::string(FormatBool(c.engine.keep_resident)); }},
    {"keep-every", "--keep-every", SettingType::kInteger, "K", nullptr, "steps",
     "Retention: keep every checkpoint whose step is a multiple of K beside the ring of "
     "max-inflight + 1 slots, in <job>/rank-<R>/kept/, until `pccheck prune` removes it; 0 keeps "
     "none",
     "engine.keep_every", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 0, INT64_MAX));
       c->engine.keep_every = static_cast<uint64_t>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.keep_every); }},

    {"socket", "--socket", SettingType::kPath, "PATH", kDefaultSocketRule, "",
     "Unix socket that trainers connect to (at most 107 bytes, the kernel's limit)", "socket",
     DefaultDaemonSocket,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(std::string path, ParseAbsolutePath(t));
       if (path.size() >= sizeof(sockaddr_un::sun_path)) {
         return Status::InvalidArgument(Quoted(path) + " is " + std::to_string(path.size()) +
                                        " bytes long; a Unix socket path has at most " +
                                        std::to_string(sizeof(sockaddr_un::sun_path) - 1));
       }
       c->socket = std::move(path);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return c.socket; }},

    {"socket-mode", "--socket-mode", SettingType::kOctal, "MODE", nullptr, "",
     "Permission bits of the socket file, in octal up to 0777; the kernel checks them before "
     "allow-uid and allow-group are",
     "socket_mode", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->socket_mode, ParseOctalMode(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return FormatOctalMode(c.socket_mode); }},

    {"allow-uid", "--allow-uid", SettingType::kUidList, "USERS", "the daemon's own uid", "",
     "Users (names or uids, comma-separated) allowed to connect; root always is", "allow_uids",
     DefaultAllowUid,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->allow_uids, ParseUsers(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return JoinIds(c.allow_uids); }},

    {"allow-group", "--allow-group", SettingType::kGidList, "GROUPS", nullptr, "",
     "Groups (names or gids, comma-separated) whose members may connect too", "allow_gids", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->allow_gids, ParseGroups(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return JoinIds(c.allow_gids); }},

    {"admin-group", "--admin-group", SettingType::kGidList, "GROUPS", nullptr, "",
     "Groups (names or gids, comma-separated) whose members may use every job, whoever owns it "
     "(save, restore, list, verify, prune); root and the daemon's own uid always may. Everyone "
     "else may use only the jobs they own: a job belongs to the uid whose session created it",
     "admin_gids", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->admin_gids, ParseGroups(t));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return JoinIds(c.admin_gids); }},

    {"max-step-jump", "--max-step-jump", SettingType::kInteger, "N", nullptr, "steps",
     "A save may be at most N steps newer than the newest committed step of its job and rank "
     "(than 0 before the first), so one bad step number cannot leave a job that no later save "
     "is newer than; 0: no bound",
     "engine.max_step_jump", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 0, INT64_MAX));
       c->engine.max_step_jump = static_cast<uint64_t>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.engine.max_step_jump); }},

    {"blob-slot", "--blob-slot", SettingType::kSize, "SIZE", nullptr, "bytes",
     "Room for the user blob (e.g. pickled non-tensor state) in each client's shared-memory "
     "segment; a save with a larger blob is refused. A multiple of 4 KiB, at most 256 MiB",
     "blob_slot_bytes", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->blob_slot_bytes,
                            ParseSizeIn(t, 4 * kKiB, kMaxUserBlobBytes, 4 * kKiB));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return ExactSize(c.blob_slot_bytes); }},

    {"log-level", "--log-level", SettingType::kEnum, "trace|debug|info|warn|error", nullptr, "",
     "Least severe message written to the log", "log_level", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(c->log_level,
                            ParseChoice(t, {"trace", "debug", "info", "warn", "error"}));
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return c.log_level; }},

    {"shutdown-timeout", "--shutdown-timeout", SettingType::kInteger, "SECONDS", nullptr, "seconds",
     "On SIGTERM or SIGINT, how long in-flight checkpoints may take to commit before they are "
     "abandoned (0 to 86400)",
     "shutdown_timeout_s", nullptr,
     [](const std::string& t, DaemonConfig* c) -> Status {
       PCC_ASSIGN_OR_RETURN(int64_t v, ParseInteger(t, 0, 86400));
       c->shutdown_timeout_s = static_cast<uint32_t>(v);
       return Status::Ok();
     },
     [](const DaemonConfig& c) { return std::to_string(c.shutdown_timeout_s); }},
};

}  // namespace

const char* SettingTypeName(SettingType t) {
  switch (t) {
    case SettingType::kPath:
      return "path";
    case SettingType::kSize:
      return "size";
    case SettingType::kInteger:
      return "integer";
    case SettingType::kOctal:
      return "octal";
    case SettingType::kEnum:
      return "enum";
    case SettingType::kBool:
      return "bool";
    case SettingType::kUidList:
      return "uid-list";
    case SettingType::kGidList:
      return "gid-list";
  }
  return "?";
}

bool DaemonConfig::operator==(const DaemonConfig& o) const {
  const EngineOptions& a = engine;
  const EngineOptions& b = o.engine;
  return a.root == b.root && a.pool_bytes == b.pool_bytes && a.chunk_bytes == b.chunk_bytes &&
         a.writers == b.writers && a.checksum_threads == b.checksum_threads &&
         a.max_inflight == b.max_inflight && a.policy == b.policy && a.direct_io == b.direct_io &&
         a.keep_resident == b.keep_resident && a.keep_every == b.keep_every &&
         a.max_step_jump == b.max_step_jump && socket == o.socket && socket_mode == o.socket_mode &&
         allow_uids == o.allow_uids && allow_gids == o.allow_gids && admin_gids == o.admin_gids &&
         blob_slot_bytes == o.blob_slot_bytes && log_level == o.log_level &&
         shutdown_timeout_s == o.shutdown_timeout_s;
}

std::span<const Setting> AllSettings() { return kSettings; }

std::string DefaultText(const Setting& s) {
  if (s.computed_default != nullptr) return s.computed_default();
  return s.format(DaemonConfig{});
}

std::string DocumentedDefault(const Setting& s) {
  return s.default_rule != nullptr ? std::string(s.default_rule) : DefaultText(s);
}

const Setting* FindSetting(std::string_view key) {
  for (const Setting& s : AllSettings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

}  // namespace pccheck
