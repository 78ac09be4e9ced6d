// Status and Result<T>: how errors cross module boundaries in pccheck.
//
// A Status is either ok or a code plus a message that names the cause (path,
// errno text, CUDA error name) and, where one exists, the fix. Nothing in
// pccheck's core throws; exceptions from libraries are caught where they enter.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace pccheck {

enum class Code {
  kOk = 0,
  kInvalidArgument = 1,  // the caller asked for something malformed
  kNotFound = 2,         // no such checkpoint, file, tensor, session
  kIoError = 3,          // EIO, short write, fsync failure
  kNoSpace = 4,          // ENOSPC / EDQUOT
  kCorruption = 5,       // checksum or format mismatch
  kBusy = 6,             // refused by the `skip` policy: pool or slots exhausted
  kAborted = 7,          // abandoned: superseded by a newer step, or shut down
  kUnavailable = 8,      // the peer (daemon, GPU, driver) is not there
  kPermissionDenied = 9,
  kInternal = 10,
  kTimeout = 11,  // a wait ran out; what was waited for may still complete later
};

// The highest code: decoders of codes received from a peer refuse larger ones.
inline constexpr Code kLastCode = Code::kTimeout;

// Whether `code` (as carried on the wire) names a Code, kOk included.
constexpr bool IsKnownCode(uint32_t code) { return code <= static_cast<uint32_t>(kLastCode); }

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status Timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }

  // Turns an errno value into a status; `what` names the call and the path.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "IoError: write /x/slot-1.data: Input/output error"
  std::string ToString() const;

  // Prefixes context: "saving step 7: " + message.
  Status Annotate(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a value or a non-ok status. A failed Result never holds a value.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an ok Status holds no value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace pccheck

// Returns early with the status when it is not ok.
#define PCC_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::pccheck::Status pcc_status_ = (expr);    \
    if (!pcc_status_.ok()) return pcc_status_; \
  } while (0)

#define PCC_CONCAT_INNER(a, b) a##b
#define PCC_CONCAT(a, b) PCC_CONCAT_INNER(a, b)
// PCC_ASSIGN_OR_RETURN(auto x, MakeX()); returns the status when MakeX fails.
#define PCC_ASSIGN_OR_RETURN(lhs, expr) \
  PCC_ASSIGN_OR_RETURN_IMPL(PCC_CONCAT(pcc_result_, __LINE__), lhs, expr)
#define PCC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
