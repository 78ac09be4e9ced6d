// What `pccheck bench` checkpoints, offline and through a daemon alike:
// random bytes, cut into about eight tensors of uneven sizes like the layers
// of a model.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace pccheck::cli {

// Fast, non-cryptographic random bytes: the checkpoint content must not
// compress or deduplicate, nothing more.
inline void FillRandom(uint8_t* p, uint64_t n, uint64_t seed) {
  uint64_t x = seed;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    x += 0x9e3779b97f4a7c15ull;  // splitmix64
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(p + i, &z, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<uint8_t>(i * 131 + seed);
}

struct BenchTensor {
  std::string name;
  uint64_t offset = 0;  // in the checkpoint's buffer
  uint64_t bytes = 0;
};

// Tensors that tile [0, size) without gaps.
inline std::vector<BenchTensor> SplitIntoTensors(uint64_t size) {
  static constexpr uint64_t kWeights[] = {5, 1, 8, 3, 2, 7, 1, 4};
  constexpr uint64_t kWeightSum = 31;
  std::vector<BenchTensor> tensors;
  uint64_t offset = 0;
  for (size_t i = 0; i < std::size(kWeights) && offset < size; ++i) {
    const bool last = i + 1 == std::size(kWeights);
    const uint64_t bytes =
        last ? size - offset : std::min(size - offset, size / kWeightSum * kWeights[i]);
    if (bytes == 0) continue;
    tensors.push_back({"layer" + std::to_string(i) + ".weight", offset, bytes});
    offset += bytes;
  }
  return tensors;
}

inline double Gbps(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0;
}

}  // namespace pccheck::cli
