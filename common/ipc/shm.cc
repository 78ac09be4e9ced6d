// SharedMemory: sealed memfd segments, mapped through Boost.Interprocess.
#include "ipc/shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <optional>
#include <utility>

#include "base/fd.h"

namespace pccheck {
namespace {

namespace bip = boost::interprocess;

constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 48;

// A read-write shared mapping: a Boost region, or a plain mmap() where
// /proc/self/fd cannot be opened (see MapSegment). Move-only.
class Region {
 public:
  explicit Region(bip::mapped_region r) : boost_(std::move(r)) {}
  Region(void* raw, size_t bytes) : raw_(raw), raw_bytes_(bytes) {}
  Region(Region&& o) noexcept
      : boost_(std::move(o.boost_)),
        raw_(std::exchange(o.raw_, nullptr)),
        raw_bytes_(o.raw_bytes_) {}
  Region& operator=(Region&&) = delete;
  ~Region() {
    if (raw_ != nullptr) ::munmap(raw_, raw_bytes_);
  }
  uint8_t* data() const { return static_cast<uint8_t*>(boost_ ? boost_->get_address() : raw_); }

 private:
  std::optional<bip::mapped_region> boost_;
  void* raw_ = nullptr;
  size_t raw_bytes_ = 0;
};

Status FromBoost(const bip::interprocess_exception& e, const std::string& what) {
  if (e.get_native_error() != 0) return Status::FromErrno(e.get_native_error(), what);
  return Status::IoError(what + ": " + e.what());
}

// Maps `bytes` of fd read-write and shared. A memfd has no name in the file
// system, so Boost's file_mapping opens it again through /proc/self/fd. Where
// /proc is not mounted (minimal containers, some sandboxes) that open fails
// although the fd itself is fine, so we then map the fd with mmap() directly.
// (Boost opens the path without O_CLOEXEC; that second fd lives only until
// the region is mapped.)
Result<Region> MapSegment(int fd, uint64_t bytes, const std::string& label) {
  std::optional<bip::file_mapping> file;
  try {
    file.emplace(("/proc/self/fd/" + std::to_string(fd)).c_str(), bip::read_write);
  } catch (const bip::interprocess_exception&) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return Status::FromErrno(errno, "mapping " + label);
    return Region(p, bytes);
  }
  try {
    // The region stays valid after `file` closes its own fd.
    return Region(bip::mapped_region(*file, bip::read_write, 0, bytes));
  } catch (const bip::interprocess_exception& e) {
    return FromBoost(e, "mapping " + label);
  }
}

// Faults every page of the mapping in now (allocating it in the memfd if the
// peer has not yet). Either side copies the whole segment at each save or
// restore; without this, the daemon's first copy out of a new segment takes
// one page fault per 4 KiB (about 0.75 s for 512 MiB on a 2-core VM), and it
// lands on a trainer's checkpoint instead of on its start-up. Kernels before
// 5.14 lack MADV_POPULATE_WRITE: the pages then fault in at first use, as
// before.
void Populate(uint8_t* data, uint64_t bytes) {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;
#endif
  (void)::madvise(data, bytes, MADV_POPULATE_WRITE);
}

}  // namespace

struct SharedMemory::Mapping {
  Region region;
};

SharedMemory::SharedMemory(int fd, std::unique_ptr<Mapping> mapping, uint8_t* data, uint64_t size)
    : fd_(fd), mapping_(std::move(mapping)), data_(data), size_(size) {}

SharedMemory::~SharedMemory() {
  mapping_.reset();
  ::close(fd_);
}

Result<std::unique_ptr<SharedMemory>> SharedMemory::Create(const std::string& name,
                                                           uint64_t bytes) {
  const std::string label = "shared-memory segment '" + name + "'";
  if (bytes == 0 || bytes > kMaxSegmentBytes) {
    return Status::InvalidArgument(label + ": size " + std::to_string(bytes) + " is out of range");
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  Fd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return Status::FromErrno(errno, "memfd_create " + label);
  if (RetryOnEintr([&] { return ::ftruncate(fd.get(), static_cast<off_t>(bytes)); }) != 0) {
    return Status::FromErrno(errno, "sizing " + label + " to " + std::to_string(bytes) + " bytes");
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, kSeals) != 0) {
    return Status::FromErrno(errno, "sealing " + label);
  }
  PCC_ASSIGN_OR_RETURN(Region region, MapSegment(fd.get(), bytes, label));
  uint8_t* data = region.data();
  Populate(data, bytes);
  auto mapping = std::make_unique<Mapping>(Mapping{std::move(region)});
  return std::unique_ptr<SharedMemory>(
      new SharedMemory(fd.release(), std::move(mapping), data, bytes));
}

Result<std::unique_ptr<SharedMemory>> SharedMemory::Map(int raw_fd, uint64_t bytes) {
  Fd fd(raw_fd);
  const std::string label = "shared-memory segment (fd " + std::to_string(raw_fd) + ")";
  if (bytes == 0 || bytes > kMaxSegmentBytes) {
    return Status::InvalidArgument(label + ": size " + std::to_string(bytes) + " is out of range");
  }
  // Without F_SEAL_SHRINK the sender could truncate the file under our
  // mapping and turn our next access into SIGBUS.
  int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    return Status::InvalidArgument(label + " is not a sealed pccheck segment");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat " + label);
  if (static_cast<uint64_t>(st.st_size) < bytes) {
    return Status::InvalidArgument(label + " is " + std::to_string(st.st_size) +
                                   " bytes, smaller than the " + std::to_string(bytes) +
                                   " expected");
  }
  PCC_ASSIGN_OR_RETURN(Region region, MapSegment(fd.get(), bytes, label));
  uint8_t* data = region.data();
  Populate(data, bytes);
  auto mapping = std::make_unique<Mapping>(Mapping{std::move(region)});
  return std::unique_ptr<SharedMemory>(
      new SharedMemory(fd.release(), std::move(mapping), data, bytes));
}

}  // namespace pccheck
