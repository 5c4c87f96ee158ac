#include "parley/rsa_key.hpp"

#include <botan/asn1_oid.h>
#include <botan/base64.h>
#include <botan/ber_dec.h>
#include <botan/data_src.h>
#include <botan/der_enc.h>
#include <botan/hash.h>
#include <botan/pkcs8.h>

#include <algorithm>
#include <stdexcept>

namespace parley {
namespace {

const Botan::OID& rsa_encryption_oid() {
  static const Botan::OID oid{1, 2, 840, 113549, 1, 1, 1};
  return oid;
}

struct SpkiFields {
  Botan::BigInt n;
  Botan::BigInt e;
  bool has_null_parameters = false;
};

// Throws Botan::Decoding_Error (or another Botan exception) on malformed input.
SpkiFields decode_spki(ByteView der) {
  SpkiFields f;
  Botan::OID oid;
  std::vector<std::uint8_t> key_bits;
  Botan::BER_Decoder outer(der.data(), der.size());
  Botan::BER_Decoder spki = outer.start_cons(Botan::SEQUENCE);
  Botan::BER_Decoder alg = spki.start_cons(Botan::SEQUENCE);
  alg.decode(oid);
  if (alg.more_items()) {
    alg.decode_null();
    f.has_null_parameters = true;
  }
  alg.verify_end();
  spki.decode(key_bits, Botan::BIT_STRING);
  spki.verify_end();
  outer.verify_end();
  if (oid != rsa_encryption_oid()) throw Botan::Decoding_Error("not rsaEncryption");

  Botan::BER_Decoder pk(key_bits);
  pk.start_cons(Botan::SEQUENCE).decode(f.n).decode(f.e).end_cons();
  pk.verify_end();
  return f;
}

Bytes encode_spki(const SpkiFields& f) {
  std::vector<std::uint8_t> key_bits;
  Botan::DER_Encoder(key_bits).start_cons(Botan::SEQUENCE).encode(f.n).encode(f.e).end_cons();
  std::vector<std::uint8_t> out;
  Botan::DER_Encoder enc(out);
  enc.start_cons(Botan::SEQUENCE).start_cons(Botan::SEQUENCE).encode(rsa_encryption_oid());
  if (f.has_null_parameters) enc.encode_null();
  enc.end_cons().encode(key_bits, Botan::BIT_STRING).end_cons();
  return out;
}

}  // namespace

Digest sha256(ByteView data) {
  auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  hash->update(data.data(), data.size());
  Digest out;
  hash->final(out.data());
  return out;
}

std::string fingerprint_of(ByteView spki_der) {
  const Digest d = sha256(spki_der);
  std::string b64 = Botan::base64_encode(d.data(), d.size());
  while (!b64.empty() && b64.back() == '=')
    b64.pop_back();
  return "SHA256:" + b64;
}

std::unique_ptr<Botan::RSA_PublicKey> parse_rsa_spki(ByteView der, std::size_t min_bits,
                                                     std::size_t max_bits) {
  SpkiFields f;
  try {
    f = decode_spki(der);
    const Bytes canonical = encode_spki(f);
    if (!std::equal(canonical.begin(), canonical.end(), der.begin(), der.end())) return nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
  const std::size_t bits = f.n.bits();
  if (f.n.is_negative() || f.n.is_even() || bits < min_bits || bits > max_bits) return nullptr;
  if (f.e.is_negative() || f.e.is_even() || f.e < 3 || f.e.bits() > 32) return nullptr;
  return std::make_unique<Botan::RSA_PublicKey>(f.n, f.e);
}

Bytes spki_of(const Botan::Public_Key& key) {
  return key.subject_public_key();
}

std::unique_ptr<Botan::RSA_PrivateKey> rsa_private_key_from_pem(std::string_view pem) {
  std::unique_ptr<Botan::Private_Key> key;
  try {
    Botan::DataSource_Memory source(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size());
    key = Botan::PKCS8::load_key(source);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("not a PKCS#8 private key: ") + e.what());
  }
  auto* rsa = dynamic_cast<Botan::RSA_PrivateKey*>(key.get());
  if (rsa == nullptr) throw std::runtime_error("not an RSA private key");
  key.release();
  return std::unique_ptr<Botan::RSA_PrivateKey>(rsa);
}

std::string to_pkcs8_pem(const Botan::RSA_PrivateKey& key) {
  return Botan::PKCS8::PEM_encode(key);
}

}  // namespace parley
