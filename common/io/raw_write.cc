#include "io/raw_write.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace pccheck {

namespace {

constexpr const char* kScratchName = ".pccheck-bench-raw-write.tmp";

}  // namespace

void RawWriteFile::FreeDeleter::operator()(void* p) const { std::free(p); }

RawWriteFile::RawWriteFile(FileSystem* fs, std::string path, std::unique_ptr<File> file)
    : fs_(fs), path_(std::move(path)), file_(std::move(file)), direct_(file_->direct()) {}

RawWriteFile::~RawWriteFile() { (void)Close(); }

Result<std::unique_ptr<RawWriteFile>> RawWriteFile::Create(FileSystem* fs, const std::string& dir,
                                                           uint64_t bytes) {
  const std::string path = JoinPath(dir, kScratchName);
  OpenOptions opts;
  opts.write = opts.create = opts.truncate = opts.direct = true;
  PCC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, opts));
  auto raw = std::unique_ptr<RawWriteFile>(new RawWriteFile(fs, path, std::move(file)));
  PCC_RETURN_IF_ERROR(raw->Reserve(bytes));
  return raw;
}

Status RawWriteFile::Reserve(uint64_t bytes) {
  const uint64_t want = AlignUp(std::max<uint64_t>(bytes, 1), kDirectAlign);
  if (want <= reserved_) return Status::Ok();
  if (!file_) return Status::Internal("the raw write file " + path_ + " is closed");
  PCC_RETURN_IF_ERROR(file_->Allocate(want).Annotate("preallocating " + path_));
  reserved_ = want;
  return Status::Ok();
}

Result<double> RawWriteFile::Pass(uint64_t offset, uint64_t bytes, int writers,
                                  uint64_t block_bytes,
                                  const std::function<void(uint64_t)>& on_block) {
  if (!file_) return Status::Internal("the raw write file " + path_ + " is closed");
  if (offset % kDirectAlign != 0 || bytes % kDirectAlign != 0 || block_bytes % kDirectAlign != 0 ||
      block_bytes == 0 || offset + bytes > reserved_) {
    return Status::InvalidArgument("raw write pass of " + std::to_string(bytes) + " bytes at " +
                                   std::to_string(offset) + " in blocks of " +
                                   std::to_string(block_bytes) + " does not fit the " +
                                   std::to_string(reserved_) + " reserved bytes of " + path_);
  }
  const uint64_t block = std::min(block_bytes, bytes);
  if (block > block_bytes_) {
    void* p = std::aligned_alloc(kDirectAlign, block);
    if (p == nullptr) {
      return Status::Internal("out of memory for a " + std::to_string(block) + "-byte block");
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    auto* b = static_cast<uint8_t*>(p);
    for (size_t i = 0; i + 8 <= block; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(b + i, &x, 8);
    }
    block_.reset(b);
    block_bytes_ = block;
  }

  const uint64_t blocks = (bytes + block - 1) / block;
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  Status first_error;
  auto work = [&] {
    for (uint64_t b = next++; b < blocks; b = next++) {
      const uint64_t at = b * block;
      const uint64_t n = std::min(block, bytes - at);
      Status s = file_->WriteAt(block_.get(), n, offset + at);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = s;
        next = blocks;  // the others stop after their current block
        return;
      }
      if (on_block) on_block(n);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(writers, 1); ++i) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  PCC_RETURN_IF_ERROR(first_error);
  PCC_RETURN_IF_ERROR(file_->Sync());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Status RawWriteFile::Close() {
  if (!file_) return Status::Ok();
  file_.reset();
  return fs_->Remove(path_);
}

}  // namespace pccheck
