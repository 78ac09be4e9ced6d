// Engine::JobOwner and Engine::ClaimJob: who owns a job, recorded in
// <root>/<job>/owner (docs/format.md, "Store layout").
#include <spdlog/spdlog.h>

#include <string>

#include "engine/engine.h"
#include "io/file_system.h"
#include "store/store_paths.h"

namespace pccheck {

namespace {

// An owner record is a uid and a newline: a file larger than this is damage.
constexpr size_t kMaxOwnerRecordBytes = 32;

Result<std::optional<uint32_t>> ReadOwner(FileSystem* fs, const std::string& path) {
  if (!fs->Exists(path)) return std::optional<uint32_t>();
  PCC_ASSIGN_OR_RETURN(std::string text, fs->ReadStoreFile(path, kMaxOwnerRecordBytes));
  if (auto uid = ParseJobOwner(text)) return std::optional<uint32_t>(*uid);
  return Status::Corruption(path +
                            " is not an owner record (a uid and a newline); as root, write the "
                            "owning user's uid there, e.g. `echo 1000 > " +
                            path + "`");
}

}  // namespace

Result<std::optional<uint32_t>> Engine::JobOwner(const std::string& job) {
  PCC_RETURN_IF_ERROR(ValidateJobName(job));
  std::lock_guard lock(owners_mu_);
  if (auto it = owners_.find(job); it != owners_.end()) return std::optional(it->second);
  PCC_ASSIGN_OR_RETURN(std::optional<uint32_t> owner,
                       ReadOwner(fs_, JobOwnerPath(options_.root, job)));
  if (owner) owners_[job] = *owner;
  return owner;
}

Result<std::optional<uint32_t>> Engine::ClaimJob(const std::string& job, uint32_t uid, bool adopt) {
  PCC_RETURN_IF_ERROR(ValidateJobName(job));
  if (options_.read_only) {
    return Status::InvalidArgument("the store at " + options_.root +
                                   " is open read-only: no job can be claimed");
  }
  std::lock_guard lock(owners_mu_);
  if (auto it = owners_.find(job); it != owners_.end()) return std::optional(it->second);
  const std::string path = JobOwnerPath(options_.root, job);
  PCC_ASSIGN_OR_RETURN(std::optional<uint32_t> owner, ReadOwner(fs_, path));
  if (!owner) {
    const std::string dir = DirName(path);
    const bool existed = fs_->Exists(dir);
    if (existed && !adopt) return owner;
    PCC_RETURN_IF_ERROR(fs_->CreateDirs(dir).Annotate("creating job directory " + dir));
    PCC_RETURN_IF_ERROR(fs_->SyncDir(options_.root).Annotate("syncing the store root"));
    PCC_RETURN_IF_ERROR(fs_->WriteFileAtomic(path, std::to_string(uid) + "\n")
                            .Annotate("recording the owner of job " + job));
    owner = uid;
    if (existed) {
      spdlog::warn(
          "job {} had no recorded owner (created before owners were recorded); uid {} opened it "
          "first and now owns it ({})",
          job, uid, path);
    } else {
      spdlog::info("job {} created by uid {}", job, uid);
    }
  }
  owners_[job] = *owner;
  return owner;
}

}  // namespace pccheck
