#include "cli/raw_write.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace pccheck::cli {

namespace {

// Leading dot and suffix: not a job directory, and plainly scratch if a killed
// bench leaves it behind.
constexpr const char* kScratchName = ".pccheck-bench-raw-write.tmp";

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// One block of random bytes, shared read-only by every writer thread.
Result<std::unique_ptr<uint8_t, FreeDeleter>> RandomBlock(size_t n) {
  void* p = std::aligned_alloc(kDirectAlign, AlignUp(n, kDirectAlign));
  if (p == nullptr)
    return Status::Internal("out of memory for a " + std::to_string(n) + "-byte block");
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto* bytes = static_cast<uint8_t*>(p);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(bytes + i, &x, 8);
  }
  return std::unique_ptr<uint8_t, FreeDeleter>(bytes);
}

Status WriteAll(File* file, const uint8_t* block, uint64_t total, int writers) {
  const uint64_t blocks = (total + kRawBlockBytes - 1) / kRawBlockBytes;
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  Status first_error;
  auto work = [&] {
    for (uint64_t b = next++; b < blocks; b = next++) {
      const uint64_t offset = b * kRawBlockBytes;
      const uint64_t n = std::min(kRawBlockBytes, total - offset);
      Status s = file->WriteAt(block, n, offset);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = s;
        next = blocks;  // the others stop after their current block
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < writers; ++i) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  return first_error;
}

}  // namespace

Result<RawWriteResult> MeasureRawWrite(FileSystem* fs, const std::string& dir, uint64_t bytes,
                                       int writers) {
  const uint64_t total = AlignUp(std::max<uint64_t>(bytes, 1), kDirectAlign);
  PCC_ASSIGN_OR_RETURN(auto block, RandomBlock(std::min(total, kRawBlockBytes)));
  const std::string path = JoinPath(dir, kScratchName);
  OpenOptions opts;
  opts.write = opts.create = opts.truncate = opts.direct = true;
  PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, opts));

  RawWriteResult result;
  result.direct = file->direct();
  // Two passes: into freshly allocated blocks, then over written ones. Some
  // disks (thin-provisioned virtual disks) take the second much faster, and
  // the engine's slots are rewritten in steady state, so the faster pass is
  // the honest reference.
  auto measure = [&]() -> Status {
    PCC_RETURN_IF_ERROR(file->Allocate(total));
    for (int pass = 0; pass < 2; ++pass) {
      const auto start = std::chrono::steady_clock::now();
      PCC_RETURN_IF_ERROR(WriteAll(file.get(), block.get(), total, std::max(writers, 1)));
      PCC_RETURN_IF_ERROR(file->Sync());
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (pass == 0 || secs < result.seconds) result.seconds = secs;
    }
    result.bytes = total;
    return Status::Ok();
  };
  Status s = measure();
  file.reset();
  Status removed = fs->Remove(path);
  PCC_RETURN_IF_ERROR(s.Annotate("raw write test on " + path));
  PCC_RETURN_IF_ERROR(removed.Annotate("removing the raw write test file"));
  return result;
}

}  // namespace pccheck::cli
