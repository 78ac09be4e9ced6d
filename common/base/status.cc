#include "pccheck/status.h"

#include <cerrno>
#include <cstring>

namespace pccheck {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "Ok";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kNotFound:
      return "NotFound";
    case Code::kIoError:
      return "IoError";
    case Code::kNoSpace:
      return "NoSpace";
    case Code::kCorruption:
      return "Corruption";
    case Code::kBusy:
      return "Busy";
    case Code::kAborted:
      return "Aborted";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kPermissionDenied:
      return "PermissionDenied";
    case Code::kTimeout:
      return "Timeout";
    case Code::kInternal:
      return "Internal";
  }
  return "Unknown";
}

Status Status::FromErrno(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return NoSpace(msg + " (free space on the store's file system, or prune old checkpoints)");
    case ENOENT:
      return NotFound(msg);
    case EACCES:
    case EPERM:
      return PermissionDenied(msg);
    case EINVAL:
      return InvalidArgument(msg);
    default:
      return IoError(msg);
  }
}

std::string Status::ToString() const {
  if (ok()) return "Ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace pccheck
