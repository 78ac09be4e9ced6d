#include "io/disk_ceiling.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>

namespace pccheck {

namespace {

using Clock = std::chrono::steady_clock;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

Result<AlignedBuffer> Allocate(uint64_t bytes, bool random) {
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, AlignUp(bytes, kDirectAlign)));
  if (p == nullptr) {
    return Status::Internal("out of memory for a " + std::to_string(bytes) +
                            "-byte block of the disk ceiling test");
  }
  if (random) {
    // Random bytes: a disk or host that compresses or deduplicates gets no easier data
    // than a checkpoint.
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(p + i, &x, 8);
    }
  }
  return AlignedBuffer(p);
}

// Runs fn(i) on n threads; returns the first error and the seconds from the
// start until the last one returned.
Result<double> RunStreams(int n, const std::function<Status(int)>& fn) {
  std::mutex mu;
  Status first;
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      Status s = fn(i);
      if (s.ok()) return;
      std::lock_guard lock(mu);
      if (first.ok()) first = s;
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  PCC_RETURN_IF_ERROR(first);
  return seconds;
}

double Rate(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0;
}

template <typename Seconds>
CeilingBest BestOf(const std::vector<CeilingPoint>& points, uint64_t bytes, Seconds seconds) {
  CeilingBest best;
  for (const CeilingPoint& p : points) {
    const double gbps = Rate(bytes, seconds(p));
    if (gbps > best.gbps) best = {gbps, p.streams};
  }
  return best;
}

Status CheckBlock(uint64_t block_bytes, const std::vector<int>& streams) {
  if (block_bytes == 0 || block_bytes % kDirectAlign != 0) {
    return Status::InvalidArgument("the disk ceiling's block of " + std::to_string(block_bytes) +
                                   " bytes is not a positive multiple of 4 KiB");
  }
  if (streams.empty() || *std::min_element(streams.begin(), streams.end()) < 1) {
    return Status::InvalidArgument("the disk ceiling needs stream counts of 1 or more");
  }
  return Status::Ok();
}

// One stream count's two write passes, over `n` files of per_stream bytes each.
Status WritePoint(FileSystem* fs, const std::string& dir, int n, uint64_t per_stream,
                  uint64_t block, const uint8_t* data, WriteCeiling* out) {
  std::vector<std::unique_ptr<File>> files;
  std::vector<std::string> paths;
  Status s;
  for (int i = 0; i < n && s.ok(); ++i) {
    paths.push_back(JoinPath(dir, ".pccheck-raw-ceiling-" + std::to_string(i) + ".tmp"));
    OpenOptions oo;
    oo.write = oo.create = oo.truncate = oo.direct = true;
    auto f = fs->Open(paths.back(), oo);
    s = f.status();
    if (!s.ok()) break;
    out->direct = (*f)->direct();
    s = (*f)->Allocate(per_stream).Annotate("preallocating " + paths.back());
    files.push_back(std::move(f).value());
  }
  auto pass = [&](int i) -> Status {
    File* f = files[static_cast<size_t>(i)].get();
    for (uint64_t at = 0; at < per_stream; at += block) {
      PCC_RETURN_IF_ERROR(f->WriteAt(data, std::min(block, per_stream - at), at));
    }
    return f->Sync();
  };
  CeilingPoint point;
  point.streams = n;
  if (s.ok()) {
    auto fresh = RunStreams(n, pass);
    s = fresh.status();
    if (s.ok()) point.fresh_seconds = *fresh;
  }
  if (s.ok()) {
    auto rewrite = RunStreams(n, pass);
    s = rewrite.status();
    if (s.ok()) point.rewrite_seconds = *rewrite;
  }
  files.clear();
  for (const std::string& p : paths) {
    Status removed = fs->Remove(p);
    if (s.ok() && !removed.ok()) s = removed.Annotate("removing the disk ceiling's scratch file");
  }
  PCC_RETURN_IF_ERROR(
      s.Annotate("disk ceiling test with " + std::to_string(n) + " streams in " + dir));
  out->points.push_back(point);
  return Status::Ok();
}

std::string SweepJson(const std::vector<CeilingPoint>& points, uint64_t bytes, bool writes) {
  std::string out = "[";
  for (const CeilingPoint& p : points) {
    JsonObject o;
    o.Add("streams", p.streams);
    if (writes) {
      o.Add("fresh_gbps", Rate(bytes, p.fresh_seconds))
          .Add("rewrite_gbps", Rate(bytes, p.rewrite_seconds));
    } else {
      o.Add("gbps", Rate(bytes, p.read_seconds));
    }
    out += (out.size() > 1 ? ", " : "") + o.str();
  }
  return out + "]";
}

}  // namespace

CeilingBest WriteCeiling::fresh() const {
  return BestOf(points, bytes, [](const CeilingPoint& p) { return p.fresh_seconds; });
}
CeilingBest WriteCeiling::rewrite() const {
  return BestOf(points, bytes, [](const CeilingPoint& p) { return p.rewrite_seconds; });
}
CeilingBest WriteCeiling::best() const {
  const CeilingBest f = fresh(), r = rewrite();
  return f.gbps > r.gbps ? f : r;
}
void WriteCeiling::Merge(const WriteCeiling& again) {
  for (const CeilingPoint& p : again.points) {
    auto same = std::find_if(points.begin(), points.end(),
                             [&](const CeilingPoint& q) { return q.streams == p.streams; });
    if (same == points.end()) {
      points.push_back(p);
      continue;
    }
    auto faster = [](double a, double b) { return b > 0 && (a == 0 || b < a) ? b : a; };
    same->fresh_seconds = faster(same->fresh_seconds, p.fresh_seconds);
    same->rewrite_seconds = faster(same->rewrite_seconds, p.rewrite_seconds);
  }
}

void ReadCeiling::Merge(const ReadCeiling& again) {
  for (const CeilingPoint& p : again.points) {
    auto same = std::find_if(points.begin(), points.end(),
                             [&](const CeilingPoint& q) { return q.streams == p.streams; });
    if (same == points.end()) {
      points.push_back(p);
    } else if (p.read_seconds > 0 && p.read_seconds < same->read_seconds) {
      same->read_seconds = p.read_seconds;
    }
  }
}

CeilingBest ReadCeiling::best() const {
  return BestOf(points, bytes, [](const CeilingPoint& p) { return p.read_seconds; });
}

Result<WriteCeiling> MeasureWriteCeiling(FileSystem* fs, const std::string& dir, uint64_t bytes,
                                         uint64_t block_bytes, const std::vector<int>& streams) {
  PCC_RETURN_IF_ERROR(CheckBlock(block_bytes, streams));
  PCC_ASSIGN_OR_RETURN(AlignedBuffer data, Allocate(block_bytes, /*random=*/true));
  WriteCeiling c;
  c.block_bytes = block_bytes;
  // Every stream count writes the same total, at least `bytes`, in whole blocks.
  uint64_t lcm = 1;
  for (int n : streams) lcm = std::lcm(lcm, static_cast<uint64_t>(n));
  const uint64_t unit = block_bytes * lcm;
  c.bytes = AlignUp(std::max<uint64_t>(bytes, 1), unit);
  for (int n : streams) {
    const uint64_t per_stream = c.bytes / static_cast<uint64_t>(n);
    PCC_RETURN_IF_ERROR(WritePoint(fs, dir, n, per_stream, block_bytes, data.get(), &c));
  }
  return c;
}

Result<ReadCeiling> MeasureReadCeiling(FileSystem* fs, const std::vector<std::string>& paths,
                                       uint64_t block_bytes, const std::vector<int>& streams) {
  PCC_RETURN_IF_ERROR(CheckBlock(block_bytes, streams));
  struct Block {
    File* file;
    uint64_t offset;
  };
  ReadCeiling c;
  c.block_bytes = block_bytes;
  c.direct = true;
  std::vector<std::unique_ptr<File>> files;
  std::vector<Block> blocks;
  for (const std::string& p : paths) {
    OpenOptions oo;
    oo.direct = true;
    PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> f, fs->Open(p, oo));
    PCC_ASSIGN_OR_RETURN(uint64_t size, f->Size());
    c.direct = c.direct && f->direct();
    c.bytes += size;
    for (uint64_t at = 0; at < size; at += block_bytes) blocks.push_back({f.get(), at});
    files.push_back(std::move(f));
  }
  // Two layouts per stream count: blocks taken from one shared queue (as
  // pccheck's restore reads), and each stream reading its own contiguous
  // span (as parallel `dd skip=` runs do; some virtual disks prefetch
  // sequential streams). The faster is the point.
  for (int n : streams) {
    CeilingPoint point;
    point.streams = n;
    for (bool contiguous : {false, true}) {
      std::atomic<size_t> next{0};
      std::atomic<uint64_t> got_total{0};
      const size_t span = (blocks.size() + static_cast<size_t>(n) - 1) / static_cast<size_t>(n);
      auto read_block = [&](uint8_t* buf, size_t b) -> Status {
        size_t got = 0;
        PCC_RETURN_IF_ERROR(blocks[b].file->ReadAt(buf, block_bytes, blocks[b].offset, &got));
        got_total += got;
        return Status::Ok();
      };
      auto stream = [&](int i) -> Status {
        PCC_ASSIGN_OR_RETURN(AlignedBuffer buf, Allocate(block_bytes, /*random=*/false));
        if (contiguous) {
          const size_t end = std::min(blocks.size(), (static_cast<size_t>(i) + 1) * span);
          for (size_t b = static_cast<size_t>(i) * span; b < end; ++b) {
            PCC_RETURN_IF_ERROR(read_block(buf.get(), b));
          }
          return Status::Ok();
        }
        for (size_t b = next++; b < blocks.size(); b = next++) {
          PCC_RETURN_IF_ERROR(read_block(buf.get(), b));
        }
        return Status::Ok();
      };
      PCC_ASSIGN_OR_RETURN(double seconds, RunStreams(n, stream));
      if (got_total != c.bytes) {
        return Status::IoError("the disk ceiling's read test read " + std::to_string(got_total) +
                               " of " + std::to_string(c.bytes) + " bytes: did a file shrink?");
      }
      if (point.read_seconds == 0 || seconds < point.read_seconds) point.read_seconds = seconds;
    }
    c.points.push_back(point);
  }
  return c;
}

JsonObject& AddWriteCeilingFields(JsonObject& j, const WriteCeiling& c) {
  const CeilingBest best = c.best(), fresh = c.fresh(), rewrite = c.rewrite();
  return j.Add("raw_bytes", c.bytes)
      .Add("raw_block_bytes", c.block_bytes)
      .Add("raw_o_direct", c.direct)
      .Add("raw_seconds", best.gbps > 0 ? static_cast<double>(c.bytes) / best.gbps / 1e9 : 0.0)
      .Add("raw_streams", best.streams)
      .Add("raw_fresh_gbps", fresh.gbps)
      .Add("raw_fresh_streams", fresh.streams)
      .Add("raw_rewrite_gbps", rewrite.gbps)
      .Add("raw_rewrite_streams", rewrite.streams)
      .Raw("raw_sweep", SweepJson(c.points, c.bytes, /*writes=*/true));
}

JsonObject& AddReadCeilingFields(JsonObject& j, const ReadCeiling& c) {
  const CeilingBest best = c.best();
  return j.Add("raw_read_gbps", best.gbps)
      .Add("raw_read_streams", best.streams)
      .Add("raw_read_bytes", c.bytes)
      .Add("raw_read_block_bytes", c.block_bytes)
      .Add("raw_read_direct", c.direct)
      .Raw("raw_read_sweep", SweepJson(c.points, c.bytes, /*writes=*/false));
}

}  // namespace pccheck
