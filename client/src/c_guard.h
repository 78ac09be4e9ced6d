// How the C ABI (pccheck.h) reports a Status: an int code and a malloc()ed
// message in *errptr; no C++ exception crosses it. Shared by c_api.cc and
// c_checkpoint.cc.
#pragma once

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "errors.h"
#include "pccheck.h"
#include "pccheck/status.h"

namespace pccheck::capi {

// PCCHECK_OK, or the status's code with its message stored in *errptr (any
// previous message there is freed) when errptr is not NULL.
inline int Report(const Status& s, char** errptr) {
  if (s.ok()) return PCCHECK_OK;
  if (errptr != nullptr) {
    std::free(*errptr);
    *errptr = strdup(s.ToString().c_str());
  }
  return static_cast<int>(s.code());
}

// Runs f (which returns a Status) and reports it; exceptions (bad_alloc)
// become PCCHECK_EINTERNAL.
template <typename F>
int Guard(char** errptr, F&& f) {
  try {
    return Report(f(), errptr);
  } catch (const std::exception& e) {
    return Report(Status::Internal(std::string("libpccheck: ") + e.what()), errptr);
  } catch (...) {
    return Report(Status::Internal("libpccheck: unknown exception"), errptr);
  }
}

}  // namespace pccheck::capi
