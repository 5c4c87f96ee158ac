#include <botan/der_enc.h>
#include <gtest/gtest.h>

#include "parley/hello.hpp"
#include "parley/rsa_key.hpp"
#include "test_support.hpp"

namespace parley {
namespace {

using test::hex;
using test::vectors;

ClientHello sample_client_hello() {
  ClientHello h;
  h.random.fill(0x11);
  h.suites = {3, 1};
  h.transport_key = hex(vectors("handshake.json")["keys"]["transport"]["spki_der"]);
  h.transport_key_sha256 = sha256(h.transport_key);
  return h;
}

TEST(ClientHello, RoundTrip) {
  const ClientHello h = sample_client_hello();
  auto parsed = parse_client_hello(encode(h));
  ASSERT_TRUE(std::holds_alternative<ClientHello>(parsed));
  const auto& p = std::get<ClientHello>(parsed);
  EXPECT_EQ(p.random, h.random);
  EXPECT_EQ(p.suites, h.suites);
  EXPECT_EQ(p.transport_key, h.transport_key);
  EXPECT_EQ(p.transport_key_sha256, h.transport_key_sha256);
}

TEST(ClientHello, EveryTruncationIsRefused) {
  const Bytes body = encode(sample_client_hello());
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto parsed = parse_client_hello(ByteView(body).first(n));
    ASSERT_TRUE(std::holds_alternative<StatusCode>(parsed)) << n;
    EXPECT_EQ(std::get<StatusCode>(parsed), StatusCode::bad_message) << n;
  }
}

TEST(ClientHello, ThirtyTwoSuitesAreTheMost) {
  ClientHello h = sample_client_hello();
  h.suites.assign(32, 1);
  EXPECT_TRUE(std::holds_alternative<ClientHello>(parse_client_hello(encode(h))));
  h.suites.push_back(1);
  EXPECT_EQ(std::get<StatusCode>(parse_client_hello(encode(h))), StatusCode::bad_message);
}

TEST(ServerHello, RoundTripAndSignedPart) {
  ServerHello sh;
  sh.random.fill(0x22);
  sh.suite = 2;
  sh.server_key = {1, 2, 3};
  sh.wrapped_secret = {4, 5};
  sh.signature = {6, 7, 8, 9};
  const Bytes body = encode(sh);
  auto parsed = parse_server_hello(body);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->hello.random, sh.random);
  EXPECT_EQ(parsed->hello.suite, 2);
  EXPECT_EQ(parsed->hello.server_key, sh.server_key);
  EXPECT_EQ(parsed->hello.wrapped_secret, sh.wrapped_secret);
  EXPECT_EQ(parsed->hello.signature, sh.signature);
  EXPECT_EQ(parsed->signed_part_size, encode_signed_part(sh).size());
  for (std::size_t n = 0; n < body.size(); ++n)
    EXPECT_FALSE(parse_server_hello(ByteView(body).first(n))) << n;
  Bytes trailing = body;
  trailing.push_back(0);
  EXPECT_FALSE(parse_server_hello(trailing));
}

TEST(ErrorFrame, RoundTripAndReasonLimit) {
  auto parsed = parse_error_frame(encode(ErrorFrame{StatusCode::server_full, "busy, retry later"}));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->code, StatusCode::server_full);
  EXPECT_EQ(parsed->reason, "busy, retry later");

  // 200 two-byte characters: cut to 256 bytes on a character boundary.
  std::string long_reason;
  for (int i = 0; i < 200; ++i)
    long_reason += "\xc3\xa9";
  auto cut = parse_error_frame(encode(ErrorFrame{StatusCode::internal, long_reason}));
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->reason.size(), 256u);
  EXPECT_EQ(truncate_utf8("a\xe2\x98\x83", 3), "a");  // never half a snowman
}

TEST(ErrorFrame, RejectsOverlongReasonAndTrailingBytes) {
  Bytes body = from_hex("7f0001");
  Writer(body).vec16(Bytes(257, 'x'));
  EXPECT_FALSE(parse_error_frame(body));
  Bytes trailing = encode(ErrorFrame{StatusCode::timeout, "t"});
  trailing.push_back(0);
  EXPECT_FALSE(parse_error_frame(trailing));
}

TEST(RsaSpki, AcceptsTheVectorKeysAndFingerprints) {
  const auto& keys = vectors("handshake.json")["keys"];
  for (const char* role : {"transport", "server_identity"}) {
    const Bytes der = hex(keys[role]["spki_der"]);
    auto key = parse_rsa_spki(der, 2048);
    ASSERT_TRUE(key) << role;
    EXPECT_EQ(key->key_length(), keys[role]["bits"].get<std::size_t>());
    EXPECT_EQ(fingerprint_of(der), keys[role]["fingerprint"].get<std::string>());
    EXPECT_EQ(to_hex(sha256(der)), keys[role]["spki_sha256"].get<std::string>());
    // The public half of the PEM private key encodes to the same bytes.
    EXPECT_EQ(spki_of(*test::vector_key(role)), der);
  }
}

TEST(RsaSpki, MinimumBitsComesFromTheCaller) {
  const Bytes der = hex(vectors("handshake.json")["keys"]["transport"]["spki_der"]);
  EXPECT_TRUE(parse_rsa_spki(der, 2048));
  EXPECT_FALSE(parse_rsa_spki(der, 3072));
  EXPECT_FALSE(parse_rsa_spki(der, 1024, 1024));
}

Bytes spki(const Botan::BigInt& n, const Botan::BigInt& e, bool with_null,
           const Botan::OID& oid = Botan::OID{1, 2, 840, 113549, 1, 1, 1}) {
  std::vector<std::uint8_t> bits;
  Botan::DER_Encoder(bits).start_cons(Botan::SEQUENCE).encode(n).encode(e).end_cons();
  std::vector<std::uint8_t> out;
  Botan::DER_Encoder enc(out);
  enc.start_cons(Botan::SEQUENCE).start_cons(Botan::SEQUENCE).encode(oid);
  if (with_null) enc.encode_null();
  enc.end_cons().encode(bits, Botan::BIT_STRING).end_cons();
  return out;
}

TEST(RsaSpki, StrictDer) {
  auto key = test::vector_key("transport");
  const auto& n = key->get_n();
  EXPECT_TRUE(parse_rsa_spki(spki(n, 65537, true), 2048));
  EXPECT_TRUE(parse_rsa_spki(spki(n, 65537, false), 2048));  // parameters absent
  EXPECT_TRUE(parse_rsa_spki(spki(n, 3, true), 2048));
  EXPECT_FALSE(parse_rsa_spki(spki(n, 1, true), 2048));
  EXPECT_FALSE(parse_rsa_spki(spki(n, 65536, true), 2048));
  EXPECT_FALSE(parse_rsa_spki(spki(n, Botan::BigInt("0x100000001"), true), 2048));
  EXPECT_TRUE(parse_rsa_spki(spki(n, Botan::BigInt("0xFFFFFFFF"), true), 2048));
  EXPECT_FALSE(parse_rsa_spki(spki(n + 1, 65537, true), 2048));  // even modulus
  EXPECT_FALSE(parse_rsa_spki(spki(n, 65537, true, Botan::OID{1, 2, 840, 10045, 2, 1}), 2048));

  Bytes good = spki(n, 65537, true);
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(parse_rsa_spki(trailing, 2048));

  // The same SEQUENCE with a non-minimal (3-byte) length encoding.
  ASSERT_EQ(good[1], 0x82);
  Bytes long_form = {0x30, 0x83, 0x00, good[2], good[3]};
  long_form.insert(long_form.end(), good.begin() + 4, good.end());
  EXPECT_FALSE(parse_rsa_spki(long_form, 2048));

  const std::string pem =
      "-----BEGIN PUBLIC KEY-----\n" +
      vectors("handshake.json")["keys"]["transport"]["public_key_pem"].get<std::string>();
  EXPECT_FALSE(parse_rsa_spki(as_bytes(pem), 2048));
  EXPECT_FALSE(parse_rsa_spki({}, 2048));
}

TEST(RsaKeyPem, RejectsGarbageWithAClearError) {
  EXPECT_THROW(rsa_private_key_from_pem("not a key"), std::runtime_error);
  auto key = test::vector_key("transport");
  auto again = rsa_private_key_from_pem(to_pkcs8_pem(*key));
  EXPECT_EQ(spki_of(*again), spki_of(*key));
}

}  // namespace
}  // namespace parley
