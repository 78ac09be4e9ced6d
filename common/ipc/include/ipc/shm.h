// Shared memory that a hostile peer cannot turn against the daemon.
//
// Segments are memfd files created by the daemon, sized, then sealed
// (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) so that a client holding the fd
// cannot shrink the file under the daemon's mapping (which would make the
// daemon's next access fault with SIGBUS). They have no name in /dev/shm:
// only a process that was handed the fd over the socket can map them, and
// nothing is left behind when both sides exit. Mapping goes through
// Boost.Interprocess (file_mapping + mapped_region).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace pccheck {

class SharedMemory {
 public:
  // Creates, sizes, seals and maps a segment of `bytes` (rounded up to a page).
  // `name` only labels it in /proc/<pid>/fd for people debugging.
  static Result<std::unique_ptr<SharedMemory>> Create(const std::string& name, uint64_t bytes);
  // Maps a segment received from the daemon. Fails unless the fd is a sealed
  // memfd of at least `bytes` bytes. Takes ownership of fd either way.
  static Result<std::unique_ptr<SharedMemory>> Map(int fd, uint64_t bytes);
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // The memfd, to pass to the peer (still owned by this object).
  int fd() const { return fd_; }

 private:
  struct Mapping;
  SharedMemory(int fd, std::unique_ptr<Mapping> mapping, uint8_t* data, uint64_t size);
  int fd_;
  std::unique_ptr<Mapping> mapping_;
  uint8_t* data_;
  uint64_t size_;
};

}  // namespace pccheck
