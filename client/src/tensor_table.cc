#include "tensor_table.h"

#include <cstring>

namespace pccheck::client {

namespace {
// Staged tensors start on cache lines: the daemon copies them in bulk.
constexpr uint64_t kStagingAlign = 64;
}  // namespace

Result<TensorTable> TensorTable::Build(const std::vector<HostTensor>& tensors,
                                       const std::vector<Arena>& arenas,
                                       std::map<size_t, wire::TensorSpec> device_specs) {
  if (tensors.size() > wire::kMaxTensors) {
    return Status::InvalidArgument("Register: " + std::to_string(tensors.size()) +
                                   " tensors, at most " + std::to_string(wire::kMaxTensors));
  }
  TensorTable table;
  for (size_t index = 0; index < tensors.size(); ++index) {
    const HostTensor& t = tensors[index];
    if (t.data == nullptr && t.bytes > 0) {
      return Status::InvalidArgument("Register: tensor '" + t.name + "' has no data");
    }
    Placement p{t};
    if (auto spec = device_specs.find(index); spec != device_specs.end()) {
      p.arena = kDevice;
      p.device_spec = std::move(spec->second);
      table.placements_.push_back(std::move(p));
      continue;
    }
    for (size_t i = 0; i < arenas.size(); ++i) {
      if (t.data != nullptr && arenas[i].Contains(t.data, t.bytes)) {
        p.arena = static_cast<int>(i);
        p.offset = arenas[i].OffsetOf(t.data);
        break;
      }
    }
    if (p.arena == kStaging) {
      uint64_t at = (table.staging_bytes_ + kStagingAlign - 1) / kStagingAlign * kStagingAlign;
      if (at < table.staging_bytes_ || t.bytes > UINT64_MAX - at) {
        return Status::InvalidArgument("Register: tensor sizes overflow");
      }
      p.offset = at;
      table.staging_bytes_ = at + t.bytes;
    }
    table.placements_.push_back(std::move(p));
  }
  return table;
}

void TensorTable::SetDeviceSpecs(std::map<size_t, wire::TensorSpec> device_specs) {
  for (auto& [index, spec] : device_specs) {
    if (index < placements_.size() && placements_[index].arena == kDevice) {
      placements_[index].device_spec = std::move(spec);
    }
  }
}

bool TensorTable::reads_arenas_in_place() const {
  for (const Placement& p : placements_) {
    if (p.arena >= 0 && p.tensor.bytes > 0) return true;
  }
  return false;
}

wire::TensorSpec TensorTable::Named(const Placement& p, wire::TensorSpec s) {
  s.name = p.tensor.name;
  s.dtype = p.tensor.dtype;
  s.shape = p.tensor.shape;
  s.bytes = p.tensor.bytes;
  return s;
}

std::vector<wire::TensorSpec> TensorTable::Specs(const std::vector<Arena>& arenas,
                                                 uint32_t staging_id) const {
  std::vector<wire::TensorSpec> specs;
  specs.reserve(placements_.size());
  for (const Placement& p : placements_) {
    if (p.arena == kDevice) {
      specs.push_back(Named(p, p.device_spec));
      continue;
    }
    wire::TensorSpec s;
    s.location = wire::Location::kArena;
    s.arena_id = p.arena == kStaging ? staging_id : arenas[p.arena].id;
    s.offset = p.offset;
    specs.push_back(Named(p, std::move(s)));
  }
  return specs;
}

void TensorTable::CopyToStaging(uint8_t* staging) const {
  for (const Placement& p : placements_) {
    if (p.arena == kStaging && p.tensor.bytes > 0) {
      std::memcpy(staging + p.offset, p.tensor.data, p.tensor.bytes);
    }
  }
}

void TensorTable::CopyFromStaging(const uint8_t* staging) const {
  for (const Placement& p : placements_) {
    if (p.arena == kStaging && p.tensor.bytes > 0) {
      std::memcpy(p.tensor.data, staging + p.offset, p.tensor.bytes);
    }
  }
}

}  // namespace pccheck::client
