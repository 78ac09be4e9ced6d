#include "store/store_paths.h"

#include <charconv>
#include <cstdio>

#include "io/file_system.h"

namespace pccheck {

namespace {

constexpr int kStepDigits = 20;  // UINT64_MAX has 20 decimal digits

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The decimal number between `prefix` and `suffix` of `name`, all of it.
template <typename T>
std::optional<T> NumberBetween(const std::string& name, const std::string& prefix,
                               const std::string& suffix) {
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      !EndsWith(name, suffix)) {
    return std::nullopt;
  }
  T v = 0;
  const char* b = name.data() + prefix.size();
  const char* e = name.data() + name.size() - suffix.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e) return std::nullopt;
  return v;
}

std::string KeptName(uint64_t step, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "step-%0*llu%s", kStepDigits,
                static_cast<unsigned long long>(step), suffix);
  return buf;
}

}  // namespace

Status ValidateJobName(const std::string& job) {
  bool ok = !job.empty() && job.size() <= 128 && job[0] != '.';
  for (char c : job) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return Status::InvalidArgument("job name '" + job +
                                   "' is not 1-128 characters of letters, digits, '.', '_' or '-' "
                                   "(not starting with '.')");
  }
  return Status::Ok();
}

std::string JobOwnerPath(const std::string& root, const std::string& job) {
  return JoinPath(JoinPath(root, job), "owner");
}

std::optional<uint32_t> ParseJobOwner(const std::string& text) {
  auto uid = NumberBetween<uint32_t>(text, "", "\n");
  if (!uid || text != std::to_string(*uid) + "\n") return std::nullopt;
  return uid;
}

std::string RankDir(const std::string& root, const std::string& job, uint32_t rank) {
  return JoinPath(JoinPath(root, job), "rank-" + std::to_string(rank));
}

std::optional<uint32_t> ParseRankDirName(const std::string& name) {
  auto r = NumberBetween<uint32_t>(name, "rank-", "");
  if (!r || name != "rank-" + std::to_string(*r)) return std::nullopt;
  return r;
}

std::string SlotManifestPath(const std::string& rank_dir, uint32_t slot) {
  return JoinPath(rank_dir, "slot-" + std::to_string(slot) + ".manifest");
}
std::string SlotDataPath(const std::string& rank_dir, uint32_t slot) {
  return JoinPath(rank_dir, "slot-" + std::to_string(slot) + ".data");
}
std::string LatestPath(const std::string& rank_dir) { return JoinPath(rank_dir, "latest"); }

std::optional<uint32_t> ParseSlotName(const std::string& name, const std::string& suffix) {
  auto k = NumberBetween<uint32_t>(name, "slot-", suffix);
  if (!k || *k > kMaxSlot) return std::nullopt;
  return k;
}

std::string KeptDir(const std::string& rank_dir) { return JoinPath(rank_dir, "kept"); }
std::string KeptManifestPath(const std::string& rank_dir, uint64_t step) {
  return JoinPath(KeptDir(rank_dir), KeptName(step, ".manifest"));
}
std::string KeptDataPath(const std::string& rank_dir, uint64_t step) {
  return JoinPath(KeptDir(rank_dir), KeptName(step, ".data"));
}

std::optional<uint64_t> ParseKeptName(const std::string& name, const std::string& suffix) {
  const std::string prefix = "step-";
  if (name.size() != prefix.size() + kStepDigits + suffix.size()) return std::nullopt;
  return NumberBetween<uint64_t>(name, prefix, suffix);
}

}  // namespace pccheck
