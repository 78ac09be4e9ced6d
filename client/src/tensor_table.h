// The registered tensors and where the daemon finds each one (protocol step 4):
// inside one of the client's arenas (read in place, no copy by the trainer),
// for any other host memory at an offset in the staging arena, where Save()
// copies it and Restore() copies it back from, or, for GPU tensors, wherever
// their spec says (CUDA IPC; built by gpu_session.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "arena.h"
#include "pccheck/client.h"
#include "proto/wire.h"

namespace pccheck::client {

class TensorTable {
 public:
  // Places each tensor. InvalidArgument for a tensor without data or a table
  // too large for the protocol. `arenas` are the client's own arenas (not the
  // staging one); the table refers to them by index, which outlives sessions.
  // device_specs: the GPU tensors, by index in `tensors`, with the spec the
  // daemon reaches each by (location kCudaIpc; name, dtype and shape are
  // filled here); the others are host memory.
  static Result<TensorTable> Build(const std::vector<HostTensor>& tensors,
                                   const std::vector<Arena>& arenas,
                                   std::map<size_t, wire::TensorSpec> device_specs = {});
  // Replaces the GPU tensors' specs (a new session's handles). REQUIRES: the
  // same indices as at Build.
  void SetDeviceSpecs(std::map<size_t, wire::TensorSpec> device_specs);
  // Some host tensor is read in place from an arena until its snapshot.
  bool reads_arenas_in_place() const;

  // Bytes the staging arena must hold (0: every tensor is in an arena).
  uint64_t staging_bytes() const { return staging_bytes_; }
  // The table as the daemon wants it, with the arena ids of the current session.
  std::vector<wire::TensorSpec> Specs(const std::vector<Arena>& arenas, uint32_t staging_id) const;
  // REQUIRES: staging holds staging_bytes() bytes and the daemon is not reading it.
  void CopyToStaging(uint8_t* staging) const;
  void CopyFromStaging(const uint8_t* staging) const;

 private:
  static constexpr int kStaging = -1;
  static constexpr int kDevice = -2;
  struct Placement {
    HostTensor tensor;
    int arena = kStaging;          // index into the client's arenas, kStaging or kDevice
    uint64_t offset = 0;           // in that arena
    wire::TensorSpec device_spec;  // kDevice: how the daemon reaches it
  };
  static wire::TensorSpec Named(const Placement& p, wire::TensorSpec spec);
  std::vector<Placement> placements_;
  uint64_t staging_bytes_ = 0;
};

}  // namespace pccheck::client
