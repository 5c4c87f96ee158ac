#include "parley/hello.hpp"

#include <algorithm>

namespace parley {
namespace {

constexpr std::array<std::uint8_t, 4> kMagic = {'P', 'R', 'L', 'Y'};

void write_header(Writer& w, std::uint8_t type) {
  w.u8(type);
  w.raw(kMagic);
  w.u16(kProtocolVersion);
}

bool magic_ok(std::optional<ByteView> magic) {
  return magic && std::equal(magic->begin(), magic->end(), kMagic.begin(), kMagic.end());
}

template <std::size_t N>
void copy_to(std::array<std::uint8_t, N>& out, ByteView in) {
  std::copy(in.begin(), in.end(), out.begin());
}

}  // namespace

std::string truncate_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t cut = max;
  // Step back over continuation bytes (10xxxxxx) so the cut lands on a boundary.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  return std::string(s.substr(0, cut));
}

Bytes encode(const ClientHello& hello) {
  Bytes out;
  Writer w(out);
  write_header(w, kClientHelloType);
  w.raw(hello.random);
  Bytes suites;
  Writer ws(suites);
  for (auto id : hello.suites)
    ws.u16(id);
  w.vec16(suites);
  w.vec16(hello.transport_key);
  w.raw(hello.transport_key_sha256);
  return out;
}

std::variant<ClientHello, StatusCode> parse_client_hello(ByteView body) {
  Reader r(body);
  auto type = r.u8();
  auto magic = r.raw(kMagic.size());
  if (type != kClientHelloType || !magic_ok(magic)) return StatusCode::bad_message;
  auto version = r.u16();
  if (!version) return StatusCode::bad_message;
  if (*version != kProtocolVersion) return StatusCode::bad_version;

  ClientHello hello;
  auto random = r.raw(kRandomSize);
  auto suites = r.vec16();
  auto key = r.vec16();
  auto digest = r.raw(32);
  if (!r.done()) return StatusCode::bad_message;
  if (suites->size() % 2 != 0 || suites->empty() || suites->size() / 2 > kMaxOfferedSuites)
    return StatusCode::bad_message;

  copy_to(hello.random, *random);
  Reader rs(*suites);
  while (rs.remaining() > 0)
    hello.suites.push_back(*rs.u16());
  hello.transport_key.assign(key->begin(), key->end());
  copy_to(hello.transport_key_sha256, *digest);
  return hello;
}

Bytes encode_signed_part(const ServerHello& hello) {
  Bytes out;
  Writer w(out);
  write_header(w, kServerHelloType);
  w.raw(hello.random);
  w.u16(hello.suite);
  w.vec16(hello.server_key);
  w.vec16(hello.wrapped_secret);
  return out;
}

Bytes encode(const ServerHello& hello) {
  Bytes out = encode_signed_part(hello);
  Writer(out).vec16(hello.signature);
  return out;
}

std::optional<ParsedServerHello> parse_server_hello(ByteView body) {
  Reader r(body);
  auto type = r.u8();
  auto magic = r.raw(kMagic.size());
  auto version = r.u16();
  auto random = r.raw(kRandomSize);
  auto suite = r.u16();
  auto key = r.vec16();
  auto wrapped = r.vec16();
  const std::size_t signed_size = body.size() - r.remaining();
  auto signature = r.vec16();
  if (!r.done() || type != kServerHelloType || !magic_ok(magic) || version != kProtocolVersion)
    return std::nullopt;

  ParsedServerHello out;
  copy_to(out.hello.random, *random);
  out.hello.suite = *suite;
  out.hello.server_key.assign(key->begin(), key->end());
  out.hello.wrapped_secret.assign(wrapped->begin(), wrapped->end());
  out.hello.signature.assign(signature->begin(), signature->end());
  out.signed_part_size = signed_size;
  return out;
}

Bytes encode(const ErrorFrame& error) {
  Bytes out;
  Writer w(out);
  w.u8(kErrorFrameType);
  w.u16(static_cast<std::uint16_t>(error.code));
  w.vec16(as_bytes(truncate_utf8(error.reason, kMaxReasonBytes)));
  return out;
}

std::optional<ErrorFrame> parse_error_frame(ByteView body) {
  Reader r(body);
  auto type = r.u8();
  auto code = r.u16();
  auto reason = r.vec16();
  if (!r.done() || type != kErrorFrameType || reason->size() > kMaxReasonBytes) return std::nullopt;
  return ErrorFrame{static_cast<StatusCode>(*code), std::string(as_chars(*reason))};
}

}  // namespace parley
