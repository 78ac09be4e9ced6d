// The offline reader: finds one checkpoint of a job/rank in a store and reads
// it, every chunk verified, without a daemon. libpccheck's
// pccheck_checkpoint_open and the `pccheck export` / `restore` commands use it.
//
// It is read-only: it never cleans, changes or locks the store (a running
// pccheckd holds <root>/.pccheckd.lock; readers never take it), so it may run
// beside a daemon that keeps saving. Such a daemon may recycle the very ring
// slot being read. The engine removes a slot's manifest before overwriting its
// data, and every commit has a new step, so after the data has been read the
// reader reads the manifest again: if it is gone or different, what was read
// may be torn and is discarded. Then, without an explicit step, the lookup
// starts over (the store has a newer checkpoint by now); with one, the step is
// looked up again (it may have moved to kept/) and otherwise the read fails,
// saying the step was overwritten while reading. A checksum mismatch found in
// a slot that was recycled meanwhile is reported the same way, never as damage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "store/rank_scan.h"

namespace pccheck {

struct ReadRequest {
  std::string root;
  std::string job;
  uint32_t rank = 0;
  std::optional<uint64_t> step;  // nullopt: the newest committed checkpoint that verifies
  int threads = 4;               // parallel chunk readers
  int max_attempts = 8;          // lookups while slots keep being recycled under the reader
};

// Receives the checkpoint being read.
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  // An attempt at reading c starts: forget whatever earlier attempts
  // delivered (they were discarded). Called once per attempt, before Chunk.
  virtual Status Begin(const StoredCheckpoint& c) = 0;
  // Verified bytes [offset, offset + len) of c's data stream. Called from
  // several threads at once for disjoint ranges; `data` is valid only during
  // the call. A non-ok status ends the read with it.
  virtual Status Chunk(uint64_t offset, const uint8_t* data, uint64_t len) = 0;
};

struct ReadResult {
  StoredCheckpoint checkpoint;       // the one read: the last the sink was given
  std::vector<std::string> skipped;  // newer checkpoints passed over as damaged, with why
  int attempts = 0;                  // lookups made (more than 1: slots were recycled)
};

// Finds and reads req's checkpoint into sink. Errors, each naming the path
// and what to do:
//   NotFound    no store, job or rank there; the step is not in the store
//               (the message lists the steps that are); the step was
//               overwritten while reading;
//   Corruption  the step asked for is damaged (naming the chunk), or no
//               committed checkpoint verifies;
//   Aborted     slots were recycled under the reader max_attempts times;
//   and whatever the file system or the sink reports.
// On failure the sink may hold partial data; discard it.
Result<ReadResult> ReadStoredCheckpoint(FileSystem* fs, const ReadRequest& req,
                                        CheckpointSink* sink);

// A sink that holds the data stream in memory.
class MemorySink : public CheckpointSink {
 public:
  Status Begin(const StoredCheckpoint& c) override;
  Status Chunk(uint64_t offset, const uint8_t* data, uint64_t len) override;
  // The stream: manifest.data_bytes bytes, tensors at their offsets.
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  std::vector<uint8_t> data_;
};

}  // namespace pccheck
