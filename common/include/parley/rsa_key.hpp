// RSA keys as the protocol sees them: strict SubjectPublicKeyInfo parsing,
// SHA-256 digests and OpenSSH-style fingerprints, PEM for keys on disk.
#pragma once

#include <botan/rng.h>
#include <botan/rsa.h>

#include <memory>
#include <string>
#include <string_view>

#include "parley/bytes.hpp"
#include "parley/hello.hpp"

namespace parley {

inline constexpr std::size_t kMaxRsaBits = 8192;

Digest sha256(ByteView data);

// "SHA256:" || base64-without-padding(SHA-256(spki_der)), over the bytes as given.
std::string fingerprint_of(ByteView spki_der);

// Accepts only a minimal-DER SubjectPublicKeyInfo with the rsaEncryption OID
// (parameters NULL or absent), no trailing bytes, an odd modulus of
// [min_bits, max_bits] bits and an odd public exponent with 3 <= e < 2^32.
// Botan's own loaders accept PEM, trailing bytes and non-minimal DER, which
// would let two byte strings name one key; we re-encode and compare instead.
std::unique_ptr<Botan::RSA_PublicKey> parse_rsa_spki(ByteView der, std::size_t min_bits,
                                                     std::size_t max_bits = kMaxRsaBits);

// DER SubjectPublicKeyInfo of a key we hold.
Bytes spki_of(const Botan::Public_Key& key);

// PKCS#8 PEM. Throws std::runtime_error naming what is wrong (not the key).
std::unique_ptr<Botan::RSA_PrivateKey> rsa_private_key_from_pem(std::string_view pem);
std::string to_pkcs8_pem(const Botan::RSA_PrivateKey& key);

}  // namespace parley
