// HKDF-SHA256 key schedule (PROTOCOL.md 2.6, 3.4).
#pragma once

#include <botan/secmem.h>

#include "parley/bytes.hpp"
#include "parley/hello.hpp"
#include "parley/suite.hpp"

namespace parley {

using Secret = Botan::secure_vector<std::uint8_t>;

inline constexpr std::size_t kSecretSize = 32;

// th = SHA-256(ClientHello body || ServerHello body), signature included.
Digest transcript_hash(ByteView client_hello, ByteView server_hello);

Secret hkdf_extract(ByteView salt, ByteView ikm);
Secret hkdf_expand(ByteView prk, ByteView info, std::size_t length);

struct TrafficSecrets {
  Secret c2s;
  Secret s2c;
};

// prk = HKDF-Extract(client_random || server_random, secret); ts_dir = HKDF-Expand(prk, label ||
// th).
TrafficSecrets derive_traffic_secrets(ByteView secret, const Random& client_random,
                                      const Random& server_random, const Digest& th);

struct TrafficKeys {
  Secret key;
  Secret iv;
  Secret mac;  // empty for AEAD suites
};

TrafficKeys derive_traffic_keys(const SuiteInfo& suite, ByteView traffic_secret);

// ts' = HKDF-Expand(ts, "parley v1 update", 32)
Secret next_traffic_secret(ByteView traffic_secret);

}  // namespace parley
