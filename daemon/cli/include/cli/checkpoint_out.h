// What `pccheck export` and `pccheck restore` share: reading one checkpoint
// out of a store with the offline reader (store/checkpoint_reader.h: verified,
// read-only, safe beside a running daemon) under a progress bar, and writing
// files that are either complete or absent.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "cli/commands.h"
#include "io/file_system.h"
#include "store/checkpoint_reader.h"

namespace pccheck::cli {

// A file written as PATH.tmp and renamed over PATH by Commit() once synced:
// PATH is its old self or complete, never half written. Destroyed without a
// successful Commit(), it removes PATH.tmp. Move-only.
class AtomicFile {
 public:
  // Creates (or truncates) PATH.tmp.
  static Result<AtomicFile> Create(FileSystem* fs, const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  // For WriteAt/Truncate; thread-safe for disjoint ranges (File's contract).
  File* file() { return file_.get(); }
  // fdatasync, close, rename over PATH, fsync the directory.
  Status Commit();

 private:
  AtomicFile(FileSystem* fs, std::string path, std::unique_ptr<File> file);
  FileSystem* fs_;
  std::string path_;
  std::unique_ptr<File> file_;  // null once committed or moved from
};

// Writes `data` to PATH through an AtomicFile.
Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view data);

// RFC 4648 base64, with padding.
std::string Base64(std::string_view bytes);

// The fields every description of a checkpoint carries: job, rank, step,
// wall_time. Callers add theirs.
JsonObject CheckpointFields(const Manifest& m);
// m's tensor table as a JSON array, one object a line: name, dtype, shape and
// bytes of each tensor, plus what extra(i, fields) adds for tensor i.
std::string TensorTableJson(const Manifest& m,
                            const std::function<void(size_t i, JsonObject& fields)>& extra);
// ["a","b"]
std::string JsonStrings(const std::vector<std::string>& items);

// InvalidArgument naming --root and the fix when `root` is not a directory
// that exists (the reader would say NotFound; for the CLI it is usage).
Status CheckRoot(FileSystem* fs, const std::string& root);

// Reads target's checkpoint into sink, drawing a progress bar on stderr
// labelled `label` over the bytes read (none when show_progress is false).
Result<ReadResult> ReadWithProgress(FileSystem* fs, const ReadTarget& target,
                                    const std::string& label, bool show_progress,
                                    CheckpointSink* sink);

// Prints "pccheck CMD: <status>" on stderr; returns kExitUsage for
// InvalidArgument (bad arguments), kExitFailed for anything else.
int Fail(const std::string& cmd, const Status& s);

}  // namespace pccheck::cli
