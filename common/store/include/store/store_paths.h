// Where a checkpoint store keeps its files (docs/format.md, "Store layout"),
// in one place for the engine that writes them and the readers that do not
// (libpccheck's offline reader, `pccheck export` and `restore`).
//
//   <root>/<job>/owner                                 the uid that owns the job
//   <root>/<job>/rank-<R>/slot-<K>.{manifest,data}     the ring
//   <root>/<job>/rank-<R>/latest                       newest commit in the ring
//   <root>/<job>/rank-<R>/kept/step-<S>.{manifest,data} retained, S zero-padded to 20 digits
//
// Pure functions of strings; nothing here touches the disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"

namespace pccheck {

// Job names become directory names: 1-128 characters of [A-Za-z0-9._-],
// not starting with '.'.
Status ValidateJobName(const std::string& job);

// <root>/<job>/owner: the uid that owns the job, in decimal, and a newline.
std::string JobOwnerPath(const std::string& root, const std::string& job);
// The uid in an owner record's text; nullopt when it is not one.
std::optional<uint32_t> ParseJobOwner(const std::string& text);

// <root>/<job>/rank-<R>
std::string RankDir(const std::string& root, const std::string& job, uint32_t rank);
// "rank-<R>" -> R; nullopt for any other name (no sign, no leading zeros).
std::optional<uint32_t> ParseRankDirName(const std::string& name);

std::string SlotManifestPath(const std::string& rank_dir, uint32_t slot);
std::string SlotDataPath(const std::string& rank_dir, uint32_t slot);
std::string LatestPath(const std::string& rank_dir);
// "slot-<K><suffix>" -> K (suffix ".manifest" or ".data"); nullopt otherwise
// or when K > kMaxSlot.
inline constexpr uint32_t kMaxSlot = 4096;
std::optional<uint32_t> ParseSlotName(const std::string& name, const std::string& suffix);

std::string KeptDir(const std::string& rank_dir);
std::string KeptManifestPath(const std::string& rank_dir, uint64_t step);
std::string KeptDataPath(const std::string& rank_dir, uint64_t step);
// "step-<20 digits><suffix>" -> S; nullopt otherwise.
std::optional<uint64_t> ParseKeptName(const std::string& name, const std::string& suffix);

}  // namespace pccheck
