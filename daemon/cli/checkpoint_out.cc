#include "cli/checkpoint_out.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/progress.h"

namespace pccheck::cli {

namespace {

// Counts what passes through into a progress bar, drawn from the first
// attempt on (nothing when the checkpoint is not found); each attempt (a slot
// recycled under the reader) adds its size to the total.
class ProgressSink : public CheckpointSink {
 public:
  ProgressSink(CheckpointSink* inner, std::string label, bool enabled)
      : inner_(inner), label_(std::move(label)), enabled_(enabled) {}
  Status Begin(const StoredCheckpoint& c) override {
    total_ += c.manifest.data_bytes;
    if (progress_ == nullptr) progress_ = std::make_unique<Progress>(label_, 0, enabled_);
    progress_->SetTotal(total_);
    return inner_->Begin(c);
  }
  Status Chunk(uint64_t offset, const uint8_t* data, uint64_t len) override {
    PCC_RETURN_IF_ERROR(inner_->Chunk(offset, data, len));
    progress_->Add(len);
    return Status::Ok();
  }

 private:
  CheckpointSink* const inner_;
  const std::string label_;
  const bool enabled_;
  std::unique_ptr<Progress> progress_;
  uint64_t total_ = 0;
};

JsonObject TensorFields(const TensorEntry& t) {
  return JsonObject()
      .Add("name", t.name)
      .Add("dtype", t.dtype)
      .Raw("shape", JsonShape(t.shape))
      .Add("bytes", t.bytes);
}

}  // namespace

AtomicFile::AtomicFile(FileSystem* fs, std::string path, std::unique_ptr<File> file)
    : fs_(fs), path_(std::move(path)), file_(std::move(file)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fs_(other.fs_), path_(std::move(other.path_)), file_(std::move(other.file_)) {}

AtomicFile::~AtomicFile() {
  if (file_ == nullptr) return;
  file_.reset();
  (void)fs_->Remove(path_ + ".tmp");  // best effort: garbage either way
}

Result<AtomicFile> AtomicFile::Create(FileSystem* fs, const std::string& path) {
  OpenOptions oo;
  oo.write = oo.create = oo.truncate = true;
  PCC_ASSIGN_OR_RETURN(auto file, fs->Open(path + ".tmp", oo));
  return AtomicFile(fs, path, std::move(file));
}

Status AtomicFile::Commit() {
  PCC_RETURN_IF_ERROR(file_->Sync());
  file_.reset();
  Status s = fs_->Rename(path_ + ".tmp", path_);
  if (!s.ok()) {
    (void)fs_->Remove(path_ + ".tmp");
    return s;
  }
  return fs_->SyncDir(DirName(path_));
}

Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view data) {
  PCC_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(fs, path));
  PCC_RETURN_IF_ERROR(out.file()->WriteAt(data.data(), data.size(), 0));
  return out.Commit();
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) {
      v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0);
    }
    for (size_t k = 0; k < 4; ++k) {
      out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 0x3F] : '=';
    }
  }
  return out;
}

JsonObject CheckpointFields(const Manifest& m) {
  return JsonObject()
      .Add("job", m.job)
      .Add("rank", m.rank)
      .Add("step", m.step)
      .Add("wall_time", m.wall_time);
}

std::string TensorTableJson(const Manifest& m,
                            const std::function<void(size_t i, JsonObject& fields)>& extra) {
  std::string out = "[";
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    JsonObject fields = TensorFields(m.tensors[i]);
    extra(i, fields);
    out += (i ? ",\n  " : "\n  ") + fields.str();
  }
  return out + "]";
}

std::string JsonStrings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + JsonString(items[i]);
  return out + "]";
}

Status CheckRoot(FileSystem* fs, const std::string& root) {
  if (!root.empty() && fs->Exists(root)) return Status::Ok();
  return Status::InvalidArgument(
      "no checkpoint store at '" + root +
      "': the directory does not exist. Pass --root with the "
      "directory pccheckd keeps its checkpoints in (its `root` setting)");
}

Result<ReadResult> ReadWithProgress(FileSystem* fs, const ReadTarget& target,
                                    const std::string& label, bool show_progress,
                                    CheckpointSink* sink) {
  ReadRequest request;
  request.root = target.root;
  request.job = target.job;
  request.rank = target.rank;
  request.step = target.step;
  ProgressSink counted(sink, label, show_progress);
  return ReadStoredCheckpoint(fs, request, &counted);
}

int Fail(const std::string& cmd, const Status& s) {
  std::fprintf(stderr, "pccheck %s: %s\n", cmd.c_str(), s.ToString().c_str());
  return s.code() == Code::kInvalidArgument ? kExitUsage : kExitFailed;
}

}  // namespace pccheck::cli
