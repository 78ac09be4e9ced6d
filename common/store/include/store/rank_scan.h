// ScanRank: what one job/rank directory of a store holds, read without
// changing anything. The engine's recovery (engine/slot_store.cc) and the
// offline reader (store/checkpoint_reader.h) both start from it, so they agree
// on which manifests count and which checkpoint is `latest`.
//
// Rules (docs/format.md, "Recovery"): a manifest counts when it decodes and
// names the job, rank and slot (ring) or step (kept/) it was found under. The
// latest checkpoint is the ring slot the `latest` record names, when that
// slot's manifest has the record's step and checksum; otherwise the committed
// ring slot with the newest step. A manifest that disappears between the
// listing and the read (a daemon recycling its slot) is skipped, not damaged.
//
// Thread-safety: a free function; safe to call while a daemon writes the
// directory (what it returns may be stale a moment later: see StillStored).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "proto/manifest.h"

namespace pccheck {

// One committed checkpoint: its manifest and where its two files are.
struct StoredCheckpoint {
  Manifest manifest;
  uint32_t manifest_crc = 0;  // ManifestChecksum() of the manifest file as read
  std::string manifest_path;
  std::string data_path;
  std::optional<uint32_t> slot;  // ring slot K; nullopt for a kept checkpoint
  bool latest = false;
};

// A manifest file that exists but is not served, and why.
struct DamagedManifest {
  std::string path;
  std::optional<uint32_t> slot;  // nullopt: under kept/
  std::string why;
};

struct RankScan {
  std::vector<DirEntry> entries;       // the rank directory's own listing
  uint32_t slot_count = 0;             // 1 + the highest K of any slot-K.* file; 0 when none
  std::vector<StoredCheckpoint> ring;  // committed ring slots, by slot
  std::vector<StoredCheckpoint> kept;  // kept checkpoints, by step
  std::vector<DamagedManifest> damaged;
  std::optional<size_t> latest;  // index into `ring`
  // Non-empty when a `latest` record exists but was not followed: why.
  std::string latest_problem;
};

// Scans `dir` (= RankDir(root, job, rank)), which must exist. Fails only when
// the directory (or its kept/ subdirectory) cannot be listed, with the code of
// that failure and a message naming the directory and what to do. A store
// file that cannot be read, is larger than its format allows or is not a
// regular file (a FIFO, a device, a symbolic link) is never waited on or
// followed: a manifest is recorded as damaged, a `latest` as latest_problem.
Result<RankScan> ScanRank(FileSystem* fs, const std::string& dir, const std::string& job,
                          uint32_t rank);

// Every committed checkpoint of a scan, latest first, then newest step first
// (ring and kept together): the order in which a reader without an explicit
// step tries them. Pointers into `scan`.
std::vector<const StoredCheckpoint*> NewestFirst(const RankScan& scan);

// True when c's manifest file still holds the manifest that was read. The
// engine removes a slot's manifest (durably) before it overwrites any byte of
// its data and every new commit has a newer step, so data read while this
// stays true was not overwritten: check it after reading.
bool StillStored(FileSystem* fs, const StoredCheckpoint& c);

}  // namespace pccheck
