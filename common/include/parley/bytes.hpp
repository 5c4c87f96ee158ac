// Byte strings and a bounds-checked big-endian codec: the only way protocol
// code reads or writes wire bytes, so "nothing read past the end" holds in one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

inline void append(Bytes& out, ByteView b) {
  out.insert(out.end(), b.begin(), b.end());
}

std::string to_hex(ByteView b);
// Throws std::invalid_argument on odd length or a non-hex character.
Bytes from_hex(std::string_view hex);

// Appends big-endian integers and length-prefixed vectors.
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  void raw(ByteView b) { append(out_, b); }
  // Throws std::length_error when b does not fit a u16 length.
  void vec16(ByteView b);

 private:
  Bytes& out_;
};

// Reads big-endian fields from a span. Every read checks the remaining length
// first; a short read returns std::nullopt and leaves the reader failed, so a
// parser can read a whole message and check once.
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  std::optional<std::uint8_t> u8();
  std::optional<std::uint16_t> u16();
  std::optional<std::uint32_t> u32();
  std::optional<std::uint64_t> u64();
  std::optional<ByteView> raw(std::size_t n);
  std::optional<ByteView> vec16();
  std::size_t remaining() const { return in_.size() - pos_; }
  bool failed() const { return failed_; }
  // True when every byte was consumed and no read failed.
  bool done() const { return !failed_ && remaining() == 0; }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

std::uint32_t load_be32(const std::uint8_t* p);
void store_be32(std::uint8_t* p, std::uint32_t v);
void store_be64(std::uint8_t* p, std::uint64_t v);

}  // namespace parley
