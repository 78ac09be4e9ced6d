// Page-aligned host memory, locked with mlock where the limit allows.
// Used for the chunk pool when there is no GPU, and by FakeGpu.
#pragma once

#include <cstddef>

#include "base/status.h"

namespace pccheck {

// mmap'ed anonymous memory; *locked says whether mlock succeeded.
Result<void*> AllocLockedHost(size_t bytes, bool* locked);
void FreeLockedHost(void* ptr, size_t bytes);

}  // namespace pccheck
