#include "parley/key_schedule.hpp"

#include <botan/kdf.h>

#include <string_view>

#include "parley/rsa_key.hpp"

namespace parley {
namespace {

Bytes concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  append(out, b);
  return out;
}

}  // namespace

Digest transcript_hash(ByteView client_hello, ByteView server_hello) {
  return sha256(concat(client_hello, server_hello));
}

Secret hkdf_extract(ByteView salt, ByteView ikm) {
  auto kdf = Botan::KDF::create_or_throw("HKDF-Extract(SHA-256)");
  return kdf->derive_key(32, ikm.data(), ikm.size(), salt.data(), salt.size(), nullptr, 0);
}

Secret hkdf_expand(ByteView prk, ByteView info, std::size_t length) {
  // Botan's HKDF-Expand uses label || salt as the info; we pass it all as the label.
  auto kdf = Botan::KDF::create_or_throw("HKDF-Expand(SHA-256)");
  return kdf->derive_key(length, prk.data(), prk.size(), nullptr, 0, info.data(), info.size());
}

TrafficSecrets derive_traffic_secrets(ByteView secret, const Random& client_random,
                                      const Random& server_random, const Digest& th) {
  const Secret prk = hkdf_extract(concat(client_random, server_random), secret);
  return {hkdf_expand(prk, concat(as_bytes("parley v1 c2s"), th), 32),
          hkdf_expand(prk, concat(as_bytes("parley v1 s2c"), th), 32)};
}

TrafficKeys derive_traffic_keys(const SuiteInfo& suite, ByteView traffic_secret) {
  TrafficKeys k;
  k.key = hkdf_expand(traffic_secret, as_bytes("key"), suite.key_len);
  k.iv = hkdf_expand(traffic_secret, as_bytes("iv"), suite.iv_len);
  if (!suite.aead) k.mac = hkdf_expand(traffic_secret, as_bytes("mac"), 32);
  return k;
}

Secret next_traffic_secret(ByteView traffic_secret) {
  return hkdf_expand(traffic_secret, as_bytes("parley v1 update"), 32);
}

}  // namespace parley
