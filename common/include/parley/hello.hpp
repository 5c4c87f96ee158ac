// The plaintext handshake messages: ClientHello, ServerHello and the Error
// frame (PROTOCOL.md 2.1, 2.3, 2.5). Strict parsers: exact lengths, every
// bound checked, no trailing bytes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "parley/bytes.hpp"
#include "parley/status.hpp"

namespace parley {

inline constexpr std::uint8_t kClientHelloType = 0x01;
inline constexpr std::uint8_t kServerHelloType = 0x02;
inline constexpr std::uint8_t kErrorFrameType = 0x7F;
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kRandomSize = 32;
inline constexpr std::size_t kMaxOfferedSuites = 32;
inline constexpr std::size_t kMaxReasonBytes = 256;

using Random = std::array<std::uint8_t, kRandomSize>;
using Digest = std::array<std::uint8_t, 32>;

struct ClientHello {
  Random random{};
  std::vector<std::uint16_t> suites;  // client preference order
  Bytes transport_key;                // DER SubjectPublicKeyInfo, as received
  Digest transport_key_sha256{};
};

Bytes encode(const ClientHello& hello);

// Checks 1a-1c of PROTOCOL.md 2.2, in that order: bad_message for type or
// magic, bad_version for a version other than 1 (a body too short to hold one
// is bad_message), bad_message for anything else that does not parse exactly.
std::variant<ClientHello, StatusCode> parse_client_hello(ByteView body);

struct ServerHello {
  Random random{};
  std::uint16_t suite = 0;
  Bytes server_key;      // DER SubjectPublicKeyInfo of the identity key
  Bytes wrapped_secret;  // RSA-OAEP ciphertext
  Bytes signature;       // RSA-PSS over the transcript
};

// The body up to and excluding the signature vec16: what the signature covers.
Bytes encode_signed_part(const ServerHello& hello);
Bytes encode(const ServerHello& hello);

struct ParsedServerHello {
  ServerHello hello;
  std::size_t signed_part_size = 0;  // prefix of the body the signature covers
};
// Exact parse: type, magic, version 1, every field present, nothing trailing.
std::optional<ParsedServerHello> parse_server_hello(ByteView body);

struct ErrorFrame {
  StatusCode code = StatusCode::internal;
  std::string reason;  // UTF-8, at most 256 bytes
};

// Cuts an over-long reason at 256 bytes, backing up to a UTF-8 boundary.
Bytes encode(const ErrorFrame& error);
std::optional<ErrorFrame> parse_error_frame(ByteView body);

// Cuts s to at most max bytes without splitting a UTF-8 sequence.
std::string truncate_utf8(std::string_view s, std::size_t max);

}  // namespace parley
