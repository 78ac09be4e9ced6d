// Little-endian field writers and bounded readers shared by every encoding in
// proto/ (the on-disk records in manifest.cc, the socket messages in wire.cc
// and store_wire.cc).
//
// A Writer appends fixed-width integers, booleans and length-prefixed strings.
// A Reader consumes them in order and never reads past its input or trusts a
// length it has not compared with a cap and with the bytes left; each failure
// is a Corruption status "<record>: <what>". DecodeAll reads a whole message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"

namespace pccheck {

inline Status CorruptRecord(const char* record, const std::string& what) {
  return Status::Corruption(std::string(record) + ": " + what);
}

class Writer {
 public:
  void U8(uint8_t v) { Put(v, 1); }
  void U16(uint16_t v) { Put(v, 2); }
  void U32(uint32_t v) { Put(v, 4); }
  void U64(uint64_t v) { Put(v, 8); }
  // A u8: 1 or 0.
  void Bool(bool v) { U8(v ? 1 : 0); }
  void Raw(std::string_view s) { out_.append(s); }
  // u32 length, then the bytes. Callers keep sizes within the decoder's caps.
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s);
  }
  const std::string& bytes() const { return out_; }
  // Hands the encoding over; the writer is empty afterwards.
  std::string Take() { return std::move(out_); }

 private:
  void Put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string out_;
};

// `record` names the record in error messages and must outlive the reader
// (a string literal).
class Reader {
 public:
  Reader(std::string_view bytes, const char* record) : rest_(bytes), record_(record) {}
  size_t remaining() const { return rest_.size(); }
  Status Fail(const std::string& what) const { return CorruptRecord(record_, what); }

  Status U8(uint8_t* v, const char* what) { return Get(v, 1, what); }
  Status U16(uint16_t* v, const char* what) { return Get(v, 2, what); }
  Status U32(uint32_t* v, const char* what) { return Get(v, 4, what); }
  Status U64(uint64_t* v, const char* what) { return Get(v, 8, what); }
  // A u8 that must be 0 or 1.
  Status Bool(bool* v, const char* what) {
    uint8_t b = 0;
    PCC_RETURN_IF_ERROR(U8(&b, what));
    if (b > 1) return Fail(std::string(what) + " is " + std::to_string(b) + ", not 0 or 1");
    *v = b == 1;
    return Status::Ok();
  }
  // A presence flag (Bool, named `flag`), then the value when present, read
  // by read(T*); *v is left alone when the flag is 0.
  template <typename T, typename Read>
  Status Optional(std::optional<T>* v, const char* flag, Read read) {
    bool present = false;
    PCC_RETURN_IF_ERROR(Bool(&present, flag));
    if (!present) return Status::Ok();
    T value{};
    PCC_RETURN_IF_ERROR(read(&value));
    *v = std::move(value);
    return Status::Ok();
  }
  Status I64(int64_t* v, const char* what) {
    uint64_t x = 0;
    PCC_RETURN_IF_ERROR(U64(&x, what));
    *v = static_cast<int64_t>(x);
    return Status::Ok();
  }
  // Exactly n bytes, no length prefix.
  Status Raw(std::string* s, size_t n, const char* what) {
    if (rest_.size() < n) return Fail(std::string("truncated at ") + what);
    s->assign(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return Status::Ok();
  }
  // A u32 length (at most `max`, at most the bytes left), then the bytes.
  Status Str(std::string* s, size_t max, const char* what) {
    uint32_t n = 0;
    PCC_RETURN_IF_ERROR(U32(&n, what));
    if (n > max) {
      return Fail(std::string(what) + " of " + std::to_string(n) + " bytes exceeds the " +
                  std::to_string(max) + "-byte limit");
    }
    if (n > rest_.size()) return Fail(std::string(what) + " runs past the end of the record");
    s->assign(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return Status::Ok();
  }
  // A count of items that each take at least `min_item_bytes`: bounded by
  // `max` and by what the bytes left can hold, before anything is reserved.
  Status Count(uint32_t* n, size_t max, size_t min_item_bytes, const char* what) {
    PCC_RETURN_IF_ERROR(U32(n, what));
    if (*n > max) {
      return Fail(std::string(what) + " " + std::to_string(*n) + " exceeds the limit of " +
                  std::to_string(max));
    }
    if (*n > rest_.size() / min_item_bytes) {
      return Fail(std::string(what) + " " + std::to_string(*n) + " does not fit in the record");
    }
    return Status::Ok();
  }
  // Ok when every byte was consumed.
  Status End() const {
    if (rest_.empty()) return Status::Ok();
    return Fail(std::to_string(rest_.size()) + " unexpected trailing bytes");
  }

 private:
  template <typename T>
  Status Get(T* v, size_t n, const char* what) {
    if (rest_.size() < n) return Fail(std::string("truncated at ") + what);
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i) x |= uint64_t{static_cast<uint8_t>(rest_[i])} << (8 * i);
    *v = static_cast<T>(x);
    rest_.remove_prefix(n);
    return Status::Ok();
  }
  std::string_view rest_;
  const char* record_;
};

// A whole message: parses `bytes` with read(Reader&, T&), then insists that
// nothing is left over. `record` names it in errors (a string literal).
template <typename T, typename Read>
Result<T> DecodeAll(std::string_view bytes, const char* record, Read read) {
  Reader r(bytes, record);
  T m;
  PCC_RETURN_IF_ERROR(read(r, m));
  PCC_RETURN_IF_ERROR(r.End());
  return m;
}

}  // namespace pccheck
