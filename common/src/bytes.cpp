#include "parley/bytes.hpp"

#include <botan/hex.h>

#include <limits>

namespace parley {

std::string to_hex(ByteView b) {
  return Botan::hex_encode(b.data(), b.size(), false);
}

Bytes from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw std::invalid_argument("hex string of odd length");
  Bytes out(hex.size() / 2);
  // Botan's hex_decode skips whitespace; we want strictness, so check first.
  for (char c : hex) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!ok) throw std::invalid_argument("not a hex string");
  }
  Botan::hex_decode(out.data(), hex.data(), hex.size(), false);
  return out;
}

void Writer::u16(std::uint16_t v) {
  out_.push_back(static_cast<std::uint8_t>(v >> 8));
  out_.push_back(static_cast<std::uint8_t>(v));
}

void Writer::u32(std::uint32_t v) {
  std::uint8_t b[4];
  store_be32(b, v);
  raw(b);
}

void Writer::u64(std::uint64_t v) {
  std::uint8_t b[8];
  store_be64(b, v);
  raw(b);
}

void Writer::vec16(ByteView b) {
  if (b.size() > std::numeric_limits<std::uint16_t>::max())
    throw std::length_error("field too long for a vec16");
  u16(static_cast<std::uint16_t>(b.size()));
  raw(b);
}

std::optional<ByteView> Reader::raw(std::size_t n) {
  if (failed_ || n > remaining()) {
    failed_ = true;
    return std::nullopt;
  }
  ByteView out = in_.subspan(pos_, n);
  pos_ += n;
  return out;
}

std::optional<std::uint8_t> Reader::u8() {
  auto b = raw(1);
  if (!b) return std::nullopt;
  return (*b)[0];
}

std::optional<std::uint16_t> Reader::u16() {
  auto b = raw(2);
  if (!b) return std::nullopt;
  return static_cast<std::uint16_t>(((*b)[0] << 8) | (*b)[1]);
}

std::optional<std::uint32_t> Reader::u32() {
  auto b = raw(4);
  if (!b) return std::nullopt;
  return load_be32(b->data());
}

std::optional<std::uint64_t> Reader::u64() {
  auto hi = u32();
  auto lo = u32();
  if (!hi || !lo) return std::nullopt;
  return (std::uint64_t{*hi} << 32) | *lo;
}

std::optional<ByteView> Reader::vec16() {
  auto len = u16();
  if (!len) return std::nullopt;
  return raw(*len);
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

void store_be64(std::uint8_t* p, std::uint64_t v) {
  store_be32(p, static_cast<std::uint32_t>(v >> 32));
  store_be32(p + 4, static_cast<std::uint32_t>(v));
}

}  // namespace parley
