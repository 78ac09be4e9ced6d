#include "errors.h"

namespace pccheck::client {

Status Timeout(const std::string& what, int timeout_ms) {
  return Status::Timeout("timed out after " + std::to_string(timeout_ms) + " ms waiting for " +
                         what);
}

bool IsTimeout(const Status& status) { return status.code() == Code::kTimeout; }

Status Unreachable(const std::string& socket, const std::string& reason) {
  return Status::Unavailable("pccheckd at " + socket + " is not reachable: " + reason +
                             " (start it with `pccheckd --socket " + socket + "`)");
}

Status FromWire(uint32_t code, const std::string& message) {
  if (code == 0 || !IsKnownCode(code)) {
    return Status::Internal("pccheckd reported unknown error code " + std::to_string(code) + ": " +
                            message);
  }
  return Status(static_cast<Code>(code), message);
}

}  // namespace pccheck::client
