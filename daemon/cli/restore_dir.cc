// `pccheck restore`: a checkpoint out of a store as a directory, for an
// operator to inspect or move it (trainers restore through the daemon or
// libpccheck instead). Read with the offline reader: verified, read-only,
// safe beside a running daemon. The directory (docs/export.md):
//   <tensor>.bin    one per tensor, its bytes as stored; the name sanitized
//   user_blob.bin   the user blob
//   index.json      job, rank, step and per tensor name, dtype, shape, bytes,
//                   file; written last, so a directory without it is incomplete
#include <cstdio>
#include <set>

#include "base/json.h"
#include "cli/checkpoint_out.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "store/chunk_reader.h"

namespace pccheck::cli {

namespace {

constexpr const char* kIndex = "index.json";
constexpr const char* kBlob = "user_blob.bin";
constexpr size_t kMaxStem = 200;  // file names stay well under NAME_MAX (255)

// "<name>.bin" with every byte outside [A-Za-z0-9._-] made '_', no leading
// '.', cut to kMaxStem; "-<n>" added where two names would collide.
std::vector<std::string> TensorFileNames(const Manifest& m) {
  std::set<std::string> used = {kIndex, kBlob};
  std::vector<std::string> out;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    std::string stem = m.tensors[i].name.substr(0, kMaxStem);
    for (char& c : stem) {
      const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
      if (!keep) c = '_';
    }
    if (stem.empty() || stem[0] == '.') stem = "_" + stem;
    std::string name = stem + ".bin";
    for (int n = 1; used.count(name); ++n) name = stem + "-" + std::to_string(n) + ".bin";
    used.insert(name);
    out.push_back(name);
  }
  return out;
}

Status WriteAt(FileSystem* fs, const std::string& path, const uint8_t* data, uint64_t n,
               uint64_t offset) {
  OpenOptions oo;
  oo.write = true;
  PCC_ASSIGN_OR_RETURN(auto file, fs->Open(path, oo));
  return file->WriteAt(data, n, offset);
}

// Writes each tensor's bytes into its own file in the output directory.
class DirectorySink : public CheckpointSink {
 public:
  DirectorySink(FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // The first attempt creates the directory, or removes a stale index.json
  // from it (--force), so it reads as incomplete until Finish.
  Status Begin(const StoredCheckpoint& c) override {
    if (!fs_->Exists(dir_)) {
      PCC_RETURN_IF_ERROR(fs_->CreateDirs(dir_).Annotate("creating --out"));
      created_dir_ = true;
    } else if (fs_->Exists(JoinPath(dir_, kIndex))) {
      PCC_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, kIndex)));
    }
    manifest_ = c.manifest;
    files_ = TensorFileNames(manifest_);
    OpenOptions oo;
    oo.write = oo.create = oo.truncate = true;
    for (const auto& name : files_) {
      PCC_RETURN_IF_ERROR(fs_->Open(JoinPath(dir_, name), oo).status());
      created_.insert(name);
    }
    return Status::Ok();
  }

  Status Chunk(uint64_t offset, const uint8_t* data, uint64_t len) override {
    return ForEachTensorPiece(manifest_, offset, data, len,
                              [&](size_t i, uint64_t into, const uint8_t* p, uint64_t n) {
                                return WriteAt(fs_, JoinPath(dir_, files_[i]), p, n, into);
                              });
  }

  // After the last chunk: tensor files synced, files of discarded attempts
  // removed, then user_blob.bin and index.json.
  Status Finish() {
    const std::set<std::string> final_files(files_.begin(), files_.end());
    for (const auto& name : created_) {
      const std::string path = JoinPath(dir_, name);
      if (!final_files.count(name)) {
        PCC_RETURN_IF_ERROR(fs_->Remove(path));
        continue;
      }
      PCC_ASSIGN_OR_RETURN(auto file, fs_->Open(path, OpenOptions{}));
      PCC_RETURN_IF_ERROR(file->Sync());
    }
    PCC_RETURN_IF_ERROR(WriteFileAtomically(fs_, JoinPath(dir_, kBlob), manifest_.user_blob));
    return WriteFileAtomically(fs_, JoinPath(dir_, kIndex), Index());
  }

  // After a failure: removes what this sink wrote (best effort), and the
  // directory if it made it.
  void Discard() {
    for (const auto& name : created_) (void)fs_->Remove(JoinPath(dir_, name));
    if (created_dir_) (void)fs_->Remove(dir_);
  }

  const Manifest& manifest() const { return manifest_; }

 private:
  std::string Index() const {
    const std::string tensors = TensorTableJson(
        manifest_, [&](size_t i, JsonObject& fields) { fields.Add("file", files_[i]); });
    const std::string blob =
        JsonObject().Add("file", kBlob).Add("bytes", manifest_.user_blob.size()).str();
    return CheckpointFields(manifest_)
               .Add("data_bytes", manifest_.data_bytes)
               .Raw("tensors", tensors)
               .Raw("user_blob", blob)
               .str() +
           "\n";
  }

  FileSystem* const fs_;
  const std::string dir_;
  Manifest manifest_;
  std::vector<std::string> files_;  // per tensor of manifest_
  std::set<std::string> created_;   // by every attempt
  bool created_dir_ = false;
};

// --out: missing (Begin creates it), or an empty directory unless --force.
Status CheckOut(FileSystem* fs, const RestoreOptions& o) {
  if (o.out.empty()) return Status::InvalidArgument("--out names no directory");
  if (!fs->Exists(o.out)) return Status::Ok();
  auto entries = fs->List(o.out);
  if (!entries.ok()) {
    return Status::InvalidArgument("--out '" + o.out + "' is not a directory we can list (" +
                                   entries.status().message() + "): name a directory");
  }
  if (!entries->empty() && !o.force) {
    return Status::InvalidArgument(
        "--out '" + o.out + "' is not empty (" + std::to_string(entries->size()) +
        " entries, e.g. '" + entries->front().name +
        "'): name a new directory, or pass --force to write into it (files of the same names "
        "are replaced, others left alone)");
  }
  return Status::Ok();
}

}  // namespace

int RunRestore(const RestoreOptions& o) {
  const std::string cmd = "restore";
  auto fs = NewPosixFileSystem();
  Status s = CheckRoot(fs.get(), o.from.root);
  if (s.ok()) s = CheckOut(fs.get(), o);
  if (!s.ok()) return Fail(cmd, s);

  DirectorySink sink(fs.get(), o.out);
  auto read = ReadWithProgress(fs.get(), o.from, "restore", true, &sink);
  s = read.status();
  if (s.ok()) s = sink.Finish().Annotate("writing into " + o.out);
  if (s.ok()) s = fs->SyncDir(o.out).Annotate("writing into " + o.out);
  if (!s.ok()) {
    sink.Discard();
    return Fail(cmd, s);
  }

  for (const auto& why : read->skipped) {
    std::fprintf(stderr, "pccheck restore: passed over damaged %s\n", why.c_str());
  }
  const Manifest& m = sink.manifest();
  std::printf("restored step %llu of job %s rank %u into %s: %zu tensor files, %s, %s (%s)\n",
              static_cast<unsigned long long>(m.step), m.job.c_str(), m.rank, o.out.c_str(),
              m.tensors.size(), kBlob, kIndex, HumanBytes(m.data_bytes).c_str());
  return kExitOk;
}

}  // namespace pccheck::cli
