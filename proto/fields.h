// One field list per encoding, visited by both its encoder and its decoder.
//
// Each message in proto/ is described once, by a function template that
// names its fields in order, each with its cap and the label its errors use:
//
//   template <typename V, Is<Verify> M>
//   Status Fields(V& v, M& m) {
//     PCC_RETURN_IF_ERROR(v.Str(m.job, kMaxNameBytes, "job"));
//     PCC_RETURN_IF_ERROR(v.U32(m.rank, "rank"));
//     return v.U64(m.step, "step");
//   }
//
// A FieldWriter visits the list with a const message and appends each field.
// A FieldReader visits it with a default-constructed one and parses each
// field with the bounds of codec.h's Reader: strings against their cap and
// the bytes left, counts against theirs before anything is resized, and a
// Corruption status "<record>: <label> ..." on any failure. Checks on values
// (a known enum, the protocol version, a sum that must not overflow) sit in
// the list as v.Check(...) where the decoder runs them; the writer skips them
// and writes whatever it is given (tests encode messages a decoder must
// refuse), so callers keep fields within the caps.
//
// The lists live in the namespace of the messages they describe, not in an
// anonymous one: WriteFields and ReadFields find them by argument-dependent
// lookup.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "proto/codec.h"

namespace pccheck {

// M is T or const T: the writer visits a const message, the reader a mutable one.
template <typename M, typename T>
concept Is = std::same_as<std::remove_const_t<M>, T>;

// What a fixed-width field of kBytes may be held in: an integer of that width
// (signed ones travel as their two's complement), or an enum, whose range the
// list checks after reading it.
template <typename T, size_t kBytes>
concept FixedWidth = std::is_enum_v<T> ||
    (std::is_integral_v<T> && !std::is_same_v<T, bool> && sizeof(T) == kBytes);

template <typename N>
concept CountWord = std::same_as<N, uint32_t> || std::same_as<N, uint64_t>;

// Appends fields to a Writer; never fails. Ignores caps, labels and checks.
class FieldWriter {
 public:
  explicit FieldWriter(Writer& out) : out_(out) {}

  template <FixedWidth<1> T>
  Status U8(T v, const char*) {
    out_.U8(static_cast<uint8_t>(v));
    return Status::Ok();
  }
  template <FixedWidth<2> T>
  Status U16(T v, const char*) {
    out_.U16(static_cast<uint16_t>(v));
    return Status::Ok();
  }
  template <FixedWidth<4> T>
  Status U32(T v, const char*) {
    out_.U32(static_cast<uint32_t>(v));
    return Status::Ok();
  }
  template <FixedWidth<8> T>
  Status U64(T v, const char*) {
    out_.U64(static_cast<uint64_t>(v));
    return Status::Ok();
  }
  Status Bool(bool v, const char*) {
    out_.Bool(v);
    return Status::Ok();
  }
  Status Str(std::string_view s, size_t /*max*/, const char*) {
    out_.Str(s);
    return Status::Ok();
  }
  // The first n bytes of s, no length prefix; s holds at least n.
  Status Raw(std::string_view s, size_t n, const char*) {
    out_.Raw(s.substr(0, n));
    return Status::Ok();
  }
  // The number of items as a u32.
  template <typename T>
  Status Count(const std::vector<T>& items, size_t /*max*/, size_t /*min_item_bytes*/,
               const char* what) {
    return U32(static_cast<uint32_t>(items.size()), what);
  }
  // The number of items as the word n (u32 or u64), which is set to it.
  template <CountWord N, typename T, typename Bound>
  Status Count(const std::vector<T>& items, N& n, const char* what, Bound /*bound*/) {
    n = static_cast<N>(items.size());
    if constexpr (sizeof(N) == 4) {
      return U32(n, what);
    } else {
      return U64(n, what);
    }
  }
  // A presence flag, then item(value) when there is one.
  template <typename T, typename Item>
  Status Optional(const std::optional<T>& o, const char* /*flag*/, Item item) {
    out_.Bool(o.has_value());
    return o ? item(*o) : Status::Ok();
  }
  // Checks are the decoder's: not run here.
  template <typename Fn>
  Status Check(Fn /*check*/) {
    return Status::Ok();
  }

 private:
  Writer& out_;
};

// Parses fields from a Reader (which names the record in errors). After a
// failure the message holds what was read so far and is to be dropped.
class FieldReader {
 public:
  explicit FieldReader(Reader& in) : in_(in) {}

  template <FixedWidth<1> T>
  Status U8(T& v, const char* what) {
    return Get(v, &Reader::U8, what);
  }
  template <FixedWidth<2> T>
  Status U16(T& v, const char* what) {
    return Get(v, &Reader::U16, what);
  }
  template <FixedWidth<4> T>
  Status U32(T& v, const char* what) {
    return Get(v, &Reader::U32, what);
  }
  template <FixedWidth<8> T>
  Status U64(T& v, const char* what) {
    return Get(v, &Reader::U64, what);
  }
  // A u8 that must be 0 or 1.
  Status Bool(bool& v, const char* what) { return in_.Bool(&v, what); }
  // At most `max` bytes, and no more than are left.
  Status Str(std::string& s, size_t max, const char* what) { return in_.Str(&s, max, what); }
  // Exactly n bytes.
  Status Raw(std::string& s, size_t n, const char* what) { return in_.Raw(&s, n, what); }
  // A u32 count, at most `max` and no more than the bytes left can hold at
  // min_item_bytes each; items is resized to it only then.
  template <typename T>
  Status Count(std::vector<T>& items, size_t max, size_t min_item_bytes, const char* what) {
    uint32_t n = 0;
    PCC_RETURN_IF_ERROR(in_.Count(&n, max, min_item_bytes, what));
    items.resize(n);
    return Status::Ok();
  }
  // A count read into n (u32 or u64) and judged by bound(reader), which
  // refuses any n the bytes left cannot hold (or above a small cap); items is
  // resized to n only then.
  template <CountWord N, typename T, typename Bound>
  Status Count(std::vector<T>& items, N& n, const char* what, Bound bound) {
    if constexpr (sizeof(N) == 4) {
      PCC_RETURN_IF_ERROR(in_.U32(&n, what));
    } else {
      PCC_RETURN_IF_ERROR(in_.U64(&n, what));
    }
    PCC_RETURN_IF_ERROR(bound(static_cast<const Reader&>(in_)));
    items.resize(n);
    return Status::Ok();
  }
  // A presence flag (named `flag`), then item(value) when it is 1; o is left
  // alone when it is 0.
  template <typename T, typename Item>
  Status Optional(std::optional<T>& o, const char* flag, Item item) {
    return in_.Optional(&o, flag, [&](T* value) { return item(*value); });
  }
  // check(reader): a Status, failing through reader.Fail(...).
  template <typename Fn>
  Status Check(Fn check) {
    return check(static_cast<const Reader&>(in_));
  }

 private:
  template <typename T, typename Word>
  Status Get(T& v, Status (Reader::*read)(Word*, const char*), const char* what) {
    Word w = 0;
    PCC_RETURN_IF_ERROR((in_.*read)(&w, what));
    v = static_cast<T>(w);
    return Status::Ok();
  }
  Reader& in_;
};

// Appends m's fields to w.
template <typename M>
void WriteFields(Writer& w, const M& m) {
  FieldWriter v(w);
  (void)Fields(v, m);  // a writer never fails
}

// Parses m's fields from r, leaving whatever follows them.
template <typename M>
Status ReadFields(Reader& r, M& m) {
  FieldReader v(r);
  return Fields(v, m);
}

template <typename M>
std::string EncodeFields(const M& m) {
  Writer w;
  WriteFields(w, m);
  return w.Take();
}

// A whole message: its fields and not a byte more. `record` names it in
// errors (a string literal).
template <typename M>
Result<M> DecodeFields(std::string_view bytes, const char* record) {
  return DecodeAll<M>(bytes, record, [](Reader& r, M& m) { return ReadFields(r, m); });
}

}  // namespace pccheck
