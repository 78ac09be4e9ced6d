// Status and Result<T> are part of the public C++ API; see pccheck/status.h.
#pragma once

#include "pccheck/status.h"
