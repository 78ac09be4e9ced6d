// `pccheck export`: one checkpoint out of a store into one file that other
// tools load, read with the offline reader (verified; safe beside a running
// daemon). docs/export.md describes both formats:
//   safetensors  the standard format; job, rank, step and the user blob
//                (base64) in its __metadata__;
//   raw          the data stream exactly as stored, plus FILE.json with the
//                tensor table, the step and the user blob (base64).
#include <cstdio>
#include <map>
#include <mutex>

#include "base/json.h"
#include "cli/checkpoint_out.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/safetensors.h"
#include "store/chunk_reader.h"

namespace pccheck::cli {

namespace {

constexpr int kRawFormatVersion = 1;

std::map<std::string, std::string> SafetensorsMetadata(const Manifest& m) {
  return {{"format", "pt"},
          {"job", m.job},
          {"rank", std::to_string(m.rank)},
          {"step", std::to_string(m.step)},
          {"wall_time", std::to_string(m.wall_time)},
          {"user_blob_base64", Base64(m.user_blob)},
          {"producer", std::string("pccheck ") + PCCHECK_VERSION}};
}

// FILE.json of the raw format.
std::string RawIndex(const Manifest& m) {
  const std::string tensors = TensorTableJson(
      m, [&](size_t i, JsonObject& fields) { fields.Add("offset", m.tensors[i].offset); });
  return CheckpointFields(m)
             .Add("format", "pccheck-raw")
             .Add("version", kRawFormatVersion)
             .Add("data_bytes", m.data_bytes)
             .Raw("tensors", tensors)
             .Add("user_blob_base64", Base64(m.user_blob))
             .str() +
         "\n";
}

// Writes what the reader delivers into FILE.tmp at its place in the format.
class ExportSink : public CheckpointSink {
 public:
  ExportSink(bool safetensors, AtomicFile* out) : safetensors_(safetensors), out_(out) {}

  Status Begin(const StoredCheckpoint& c) override {
    manifest_ = c.manifest;
    uint64_t size = manifest_.data_bytes;
    if (safetensors_) {
      PCC_ASSIGN_OR_RETURN(layout_, PlanSafetensors(manifest_, SafetensorsMetadata(manifest_)));
      size = layout_.file_bytes;
    }
    // Every byte below `size` is written again, so bytes of an earlier
    // attempt never survive.
    return out_->file()->Truncate(size);
  }

  Status Chunk(uint64_t offset, const uint8_t* data, uint64_t len) override {
    if (!safetensors_) return out_->file()->WriteAt(data, len, offset);
    return ForEachTensorPiece(manifest_, offset, data, len,
                              [&](size_t i, uint64_t into, const uint8_t* p, uint64_t n) {
                                return out_->file()->WriteAt(p, n, layout_.file_offset[i] + into);
                              });
  }

  // After the last chunk: the header (safetensors), then FILE.json (raw).
  Status Finish(FileSystem* fs, const std::string& path) {
    if (safetensors_) {
      return out_->file()->WriteAt(layout_.header.data(), layout_.header.size(), 0);
    }
    return WriteFileAtomically(fs, path + ".json", RawIndex(manifest_));
  }

  const Manifest& manifest() const { return manifest_; }
  uint64_t file_bytes() const { return safetensors_ ? layout_.file_bytes : manifest_.data_bytes; }

 private:
  const bool safetensors_;
  AtomicFile* const out_;
  Manifest manifest_;
  SafetensorsLayout layout_;
};

Status CheckOut(FileSystem* fs, const std::string& out) {
  if (out.empty() || out.back() == '/') {
    return Status::InvalidArgument("--out '" + out + "' names no file: give a file name");
  }
  if (!fs->Exists(DirName(out))) {
    return Status::InvalidArgument("the directory of --out '" + out +
                                   "' does not exist: create it first (mkdir -p " + DirName(out) +
                                   ")");
  }
  return Status::Ok();
}

}  // namespace

int RunExport(const ExportOptions& o) {
  const std::string cmd = "export";
  auto fs = NewPosixFileSystem();
  if (o.format != "safetensors" && o.format != "raw") {
    return Fail(
        cmd, Status::InvalidArgument("--format '" + o.format + "' is not one of safetensors, raw"));
  }
  Status s = CheckRoot(fs.get(), o.from.root);
  if (s.ok()) s = CheckOut(fs.get(), o.out);
  if (!s.ok()) return Fail(cmd, s);
  auto out = AtomicFile::Create(fs.get(), o.out);
  if (!out.ok()) return Fail(cmd, out.status().Annotate("creating --out"));

  ExportSink sink(o.format == "safetensors", &out.value());
  auto read = ReadWithProgress(fs.get(), o.from, "export", !o.json, &sink);
  if (!read.ok()) return Fail(cmd, read.status());
  s = sink.Finish(fs.get(), o.out);
  if (s.ok()) s = out->Commit();
  if (!s.ok()) return Fail(cmd, s.Annotate("writing " + o.out));

  const Manifest& m = sink.manifest();
  for (const auto& why : read->skipped) {
    std::fprintf(stderr, "pccheck export: passed over damaged %s\n", why.c_str());
  }
  if (o.json) {
    std::printf("%s\n", CheckpointFields(m)
                            .Add("file", o.out)
                            .Add("format", o.format)
                            .Add("tensors", static_cast<uint64_t>(m.tensors.size()))
                            .Add("bytes", sink.file_bytes())
                            .Add("data_bytes", m.data_bytes)
                            .Add("attempts", read->attempts)
                            .Raw("skipped", JsonStrings(read->skipped))
                            .str()
                            .c_str());
  } else {
    const std::string index = o.format == "raw" ? "; tensor table in " + o.out + ".json" : "";
    std::printf("exported step %llu of job %s rank %u to %s (%s, %zu tensors, %s)%s\n",
                static_cast<unsigned long long>(m.step), m.job.c_str(), m.rank, o.out.c_str(),
                o.format.c_str(), m.tensors.size(), HumanBytes(sink.file_bytes()).c_str(),
                index.c_str());
  }
  return kExitOk;
}

}  // namespace pccheck::cli
