// CRC32C (Castagnoli), the checksum of every chunk and record pccheck writes.
// Uses the SSE4.2 instruction where the CPU has it, a table otherwise; both give
// identical results. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pccheck {

// Extends `crc` (the value returned for the bytes before) over n more bytes.
// Crc32c(p, n) == Crc32cExtend(Crc32cExtend(0, p, k), p + k, n - k).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

// True when the hardware path is in use (for status and benchmarks).
bool Crc32cHardware();

// The table-driven path, whatever the CPU; for tests and benchmarks that
// compare it with the hardware path. Same contract as Crc32cExtend.
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);

}  // namespace pccheck
