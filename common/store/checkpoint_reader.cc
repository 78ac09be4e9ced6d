#include "store/checkpoint_reader.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <new>
#include <stdexcept>
#include <vector>

#include "store/chunk_reader.h"
#include "store/store_paths.h"

namespace pccheck {

namespace {

std::string Who(const ReadRequest& r) { return "job " + r.job + " rank " + std::to_string(r.rank); }

// "job a (ranks 0, 1), job b (rank 0)": what a store holds, for messages.
std::string StoreContents(FileSystem* fs, const std::string& root) {
  auto jobs = fs->List(root);
  if (!jobs.ok()) return "nothing readable (" + jobs.status().message() + ")";
  std::string out;
  for (const auto& job : jobs.value()) {
    if (!job.is_dir || !ValidateJobName(job.name).ok()) continue;
    auto entries = fs->List(JoinPath(root, job.name));
    std::vector<uint32_t> ranks;
    for (const auto& e : entries.ok() ? entries.value() : std::vector<DirEntry>{}) {
      if (auto r = ParseRankDirName(e.name); r && e.is_dir) ranks.push_back(*r);
    }
    if (ranks.empty()) continue;
    std::sort(ranks.begin(), ranks.end());
    out +=
        (out.empty() ? "job " : ", job ") + job.name + (ranks.size() > 1 ? " (ranks " : " (rank ");
    for (size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
    out += ")";
  }
  return out.empty() ? "no checkpoints at all" : out;
}

Result<std::string> FindRankDir(FileSystem* fs, const ReadRequest& r) {
  PCC_RETURN_IF_ERROR(ValidateJobName(r.job));
  if (r.root.empty() || !fs->Exists(r.root)) {
    return Status::NotFound("no checkpoint store at '" + r.root +
                            "': the directory does not exist; name the directory pccheckd keeps "
                            "its checkpoints in (its `root` setting)");
  }
  std::string dir = RankDir(r.root, r.job, r.rank);
  if (fs->Exists(dir)) return dir;
  // Exists says no too for what cannot be looked into: say which.
  for (const std::string& d : {r.root, JoinPath(r.root, r.job)}) {
    auto listed = fs->List(d);
    if (listed.ok() || listed.status().code() == Code::kNotFound) continue;
    return Status(listed.status().code(),
                  d + " cannot be read (" + listed.status().message() +
                      "), so the checkpoints of " + Who(r) +
                      " cannot be looked up: run as a user that may read the store (the daemon's "
                      "user, or a member of its `allow-group`), or fix the directory's "
                      "permissions");
  }
  return Status::NotFound("no checkpoints of " + Who(r) + " under " + r.root + " (" + dir +
                          " does not exist); the store holds " + StoreContents(fs, r.root) +
                          ": check the job name and rank");
}

// "3, 5 (kept), 9 (latest)", oldest first; then the manifests that do not count.
std::string StepsThere(const RankScan& scan) {
  std::vector<const StoredCheckpoint*> all = NewestFirst(scan);
  std::sort(all.begin(), all.end(), [](const StoredCheckpoint* a, const StoredCheckpoint* b) {
    return a->manifest.step < b->manifest.step;
  });
  std::string out;
  for (const StoredCheckpoint* c : all) {
    out += (out.empty() ? "" : ", ") + std::to_string(c->manifest.step) +
           (c->latest ? " (latest)"
            : c->slot ? ""
                      : " (kept)");
  }
  out = "steps there: " + (out.empty() ? std::string("none") : out);
  for (const auto& d : scan.damaged) out += "; not readable: " + d.path + ": " + d.why;
  return out;
}

// The checkpoints to try, in order: every one of `step` (kept first: they are
// never recycled), or all newest first.
std::vector<const StoredCheckpoint*> Candidates(const RankScan& scan,
                                                std::optional<uint64_t> step) {
  std::vector<const StoredCheckpoint*> all = NewestFirst(scan);
  if (!step) return all;
  std::vector<const StoredCheckpoint*> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&](const StoredCheckpoint* c) { return c->manifest.step == *step; });
  std::stable_partition(out.begin(), out.end(), [](const StoredCheckpoint* c) { return !c->slot; });
  return out;
}

Status ReadInto(FileSystem* fs, const ReadRequest& r, const StoredCheckpoint& c,
                CheckpointSink* sink) {
  // Before the sink sizes anything by the manifest.
  if (c.manifest.chunk_count() > 0)
    PCC_RETURN_IF_ERROR(OpenDataFile(fs, c.data_path, c.manifest).status());
  PCC_RETURN_IF_ERROR(sink->Begin(c));
  return ReadVerifiedChunks(fs, c.data_path, c.manifest, r.threads,
                            [sink](uint64_t offset, const uint8_t* data, uint64_t len) {
                              return sink->Chunk(offset, data, len);
                            });
}

Status NotInStore(const ReadRequest& r, const std::string& dir, const RankScan& scan) {
  if (r.step) {
    return Status::NotFound("step " + std::to_string(*r.step) + " of " + Who(r) +
                            " is not in the store under " + dir + " (" + StepsThere(scan) +
                            "); read one of those, or leave the step out for the newest");
  }
  return Status::NotFound("no committed checkpoint of " + Who(r) + " in " + dir + " (" +
                          StepsThere(scan) + "); one appears when a save of it commits");
}

}  // namespace

Result<ReadResult> ReadStoredCheckpoint(FileSystem* fs, const ReadRequest& req,
                                        CheckpointSink* sink) {
  PCC_ASSIGN_OR_RETURN(const std::string dir, FindRankDir(fs, req));
  ReadResult result;
  const int attempts = std::max(req.max_attempts, 1);
  for (result.attempts = 1; result.attempts <= attempts; ++result.attempts) {
    PCC_ASSIGN_OR_RETURN(RankScan scan, ScanRank(fs, dir, req.job, req.rank));
    const auto candidates = Candidates(scan, req.step);
    if (candidates.empty() && req.step && result.attempts > 1) {
      return Status::NotFound("step " + std::to_string(*req.step) + " of " + Who(req) +
                              " was overwritten while reading (it is no longer in the store; " +
                              StepsThere(scan) +
                              "): a running pccheckd recycled its slot; read a newer step");
    }
    if (candidates.empty()) return NotInStore(req, dir, scan);
    bool recycled = false;
    result.skipped.clear();
    for (const StoredCheckpoint* c : candidates) {
      Status s = ReadInto(fs, req, *c, sink);
      // Checked before anything is concluded from s: a slot recycled under
      // the reader yields checksum mismatches that are not damage.
      if (!StillStored(fs, *c)) {
        recycled = true;
        break;
      }
      if (s.ok()) {
        result.checkpoint = *c;
        return result;
      }
      if (s.code() != Code::kCorruption) return s;
      if (req.step) {
        return Status::Corruption(s.message() + "; step " + std::to_string(*req.step) +
                                  " is damaged: read another step, or none for the newest "
                                  "that verifies");
      }
      result.skipped.push_back("step " + std::to_string(c->manifest.step) + ": " + s.message());
    }
    if (!recycled) {
      std::string why;
      for (const auto& s : result.skipped) why += "; " + s;
      return Status::Corruption("no committed checkpoint of " + Who(req) + " in " + dir +
                                " verifies" + why);
    }
  }
  return Status::Aborted("gave up after " + std::to_string(attempts) + " attempts: the slots of " +
                         Who(req) + " in " + dir +
                         " were recycled under the reader every time (a daemon saves faster than "
                         "this reads them); retry, or read an explicit kept step");
}

Status MemorySink::Begin(const StoredCheckpoint& c) {
  // The data file holds data_bytes (ReadStoredCheckpoint checks before
  // Begin), but a sparse file can claim any size: an allocation that
  // fails is taken for damage, and the reader tries an older checkpoint.
  try {
    data_.assign(c.manifest.data_bytes, 0);
  } catch (const std::bad_alloc&) {
    return Status::Corruption("the manifest " + c.manifest_path + " of step " +
                              std::to_string(c.manifest.step) + " claims " +
                              std::to_string(c.manifest.data_bytes) +
                              " data bytes, which cannot be held in memory here");
  } catch (const std::length_error&) {
    return Status::Corruption("the manifest " + c.manifest_path + " of step " +
                              std::to_string(c.manifest.step) + " claims " +
                              std::to_string(c.manifest.data_bytes) +
                              " data bytes, more than memory can hold");
  }
  return Status::Ok();
}

Status MemorySink::Chunk(uint64_t offset, const uint8_t* data, uint64_t len) {
  std::memcpy(data_.data() + offset, data, len);
  return Status::Ok();
}

}  // namespace pccheck
