// What both handshake state machines hand back: frames to send, and then
// either an established session or a failure (PROTOCOL.md 2, 3.3).
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>

#include <optional>
#include <string>

#include "parley/bytes.hpp"
#include "parley/hello.hpp"
#include "parley/record.hpp"
#include "parley/status.hpp"

namespace parley {

struct HandshakeFailure {
  StatusCode code = StatusCode::internal;
  std::string reason;  // for humans and logs; never key material
};

struct Established {
  RecordSealer sealer;  // our direction, next seq already past the finished
  RecordOpener opener;  // the peer's direction
  Digest th{};
  std::string server_fingerprint;
  Bytes client_identity;           // DER SPKI, empty for an anonymous client
  std::string client_fingerprint;  // empty for an anonymous client
};

struct HandshakeStep {
  Bytes send;  // whole frames to write, in order (possibly none)
  std::optional<Established> established;
  std::optional<HandshakeFailure> failure;
};

inline constexpr std::string_view kServerSignatureLabel{"parley v1 server signature\0", 27};
inline constexpr std::string_view kClientSignatureLabel{"parley v1 client signature\0", 27};
// Botan's name for RSA-PSS with SHA-256, MGF1 and exactly 32 bytes of salt.
inline constexpr const char* kPssPadding = "EMSA4(SHA-256,MGF1,32)";
inline constexpr const char* kOaepPadding = "EME-OAEP(SHA-256)";

// RSA-PSS over label || digest, the shape of both transcript signatures.
Bytes sign_transcript(const Botan::Private_Key& key, Botan::RandomNumberGenerator& rng,
                      std::string_view label, const Digest& digest);
bool verify_transcript(const Botan::Public_Key& key, std::string_view label, const Digest& digest,
                       ByteView signature);

// finished data: th || vec16 client_identity || vec16 client_signature (c2s), or th (s2c).
struct ClientFinished {
  Digest th{};
  ByteView identity;
  ByteView signature;
};
std::optional<ClientFinished> parse_client_finished(ByteView data);
Bytes encode_client_finished(const Digest& th, ByteView identity, ByteView signature);

}  // namespace parley
