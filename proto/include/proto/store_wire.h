// The store requests on pccheckd's socket: what `pccheck list`, `verify` and
// `prune` ask a running daemon instead of touching its store themselves.
//
// Like kStatus, each is the first frame of a connection of its own (no
// Hello), from any peer the daemon authorizes, and the connection ends with
// the answer:
//   kStoreList (empty payload)  -> kStoreListed
//   kVerify                     -> kVerifyProgress ... (zero or more), kVerified
//   kPrune                      -> kPruned, or kError
// A daemon that fails a request it understood answers kError (wire.h).
//
// Decoders treat their input as hostile, as wire.h's do: sizes bounded
// before anything is allocated, no trailing bytes, booleans 0 or 1, and a
// Corruption status naming the message and the field on any failure. The
// encodings are canonical: what decodes re-encodes to the same bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/wire.h"

namespace pccheck::wire {

// kStoreListed: the daemon's store and every checkpoint in it (ring slots and
// kept), as the engine lists them. `pccheck list --json` renders it.
struct StoreListed {
  struct Entry {
    std::string job;  // at most kMaxNameBytes
    uint32_t rank = 0;
    uint64_t step = 0;  // 0 for a damaged ring slot
    uint32_t slot = 0;  // the ring slot; 0 and meaningless when kept
    uint64_t bytes = 0;
    int64_t wall_time = 0;  // seconds since the epoch
    bool latest = false;
    bool kept = false;
    // "committed", "damaged: <why>" (a directory that cannot be read:
    // "damaged: unreadable directory: <why>", step 0); at most kMaxStringBytes
    std::string state;
    bool operator==(const Entry&) const = default;
  };
  std::string root;                // the store directory; at most kMaxStringBytes
  std::vector<Entry> checkpoints;  // at most kMaxListedCheckpoints
  bool operator==(const StoreListed&) const = default;
};
inline constexpr uint32_t kMaxListedCheckpoints = 1u << 20;

// kVerify: re-read one checkpoint (ring slot or kept) and check every chunk.
struct Verify {
  std::string job;  // at most kMaxNameBytes
  uint32_t rank = 0;
  uint64_t step = 0;
  bool operator==(const Verify&) const = default;
};

// kVerifyProgress: bytes of the checkpoint checked so far (never decreasing).
struct VerifyProgress {
  uint64_t bytes = 0;
  bool operator==(const VerifyProgress&) const = default;
};

// kVerified: code 0 (pccheck::Code::kOk) when every chunk checks out; else the
// failure: kCorruption (damaged), kNotFound, kAborted (superseded or pruned
// while being read: not damage), ... Its message names the checkpoint.
struct Verified {
  uint32_t code = 0;    // a pccheck::Code, kOk included
  std::string message;  // at most kMaxStringBytes
  uint64_t bytes = 0;   // bytes checked
  bool operator==(const Verified&) const = default;
};

// kPrune: remove kept checkpoints beyond the newest `keep` of each job and
// rank (only `job` / `rank` when set).
struct Prune {
  uint32_t keep = 0;
  std::optional<std::string> job;  // at most kMaxNameBytes
  std::optional<uint32_t> rank;
  bool dry_run = false;
  bool operator==(const Prune&) const = default;
};

struct Pruned {
  struct Entry {
    std::string job;  // at most kMaxNameBytes
    uint32_t rank = 0;
    uint64_t step = 0;
    uint64_t bytes = 0;
    bool operator==(const Entry&) const = default;
  };
  bool dry_run = false;        // the entries would have been removed
  std::vector<Entry> removed;  // at most 2^20
  bool operator==(const Pruned&) const = default;
};

// Layouts (little-endian; a string is a u32 length and its bytes):
//   StoreListed     string root, u32 count, count x (string job, u32 rank,
//                   u64 step, u32 slot, u64 bytes, i64 wall_time, u8 latest,
//                   u8 kept, string state)
//   Verify          string job, u32 rank, u64 step
//   VerifyProgress  u64 bytes
//   Verified        u32 code (<= kLastCode), string message, u64 bytes
//   Prune           u32 keep, u8 has_job, [string job], u8 has_rank,
//                   [u32 rank], u8 dry_run
//   Pruned          u8 dry_run, u32 count, count x (string job, u32 rank,
//                   u64 step, u64 bytes)
std::string Encode(const StoreListed& m);
std::string Encode(const Verify& m);
std::string Encode(const VerifyProgress& m);
std::string Encode(const Verified& m);
std::string Encode(const Prune& m);
std::string Encode(const Pruned& m);

Result<StoreListed> DecodeStoreListed(std::string_view b);
Result<Verify> DecodeVerify(std::string_view b);
Result<VerifyProgress> DecodeVerifyProgress(std::string_view b);
Result<Verified> DecodeVerified(std::string_view b);
Result<Prune> DecodePrune(std::string_view b);
Result<Pruned> DecodePruned(std::string_view b);

}  // namespace pccheck::wire
