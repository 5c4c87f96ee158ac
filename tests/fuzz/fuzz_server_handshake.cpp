// The server's handshake state machine (PROTOCOL.md 2, 3.3) fed arbitrary frames, with a fixed
// identity (the vectors' server key: no RSA key generation per input) and a deterministic RNG.
//
// Input: [options] then a stream of frames, each body handed to on_frame() in turn.
//   options bits 0-1: policy: 0-2 = all suites, preferring AES-256-GCM, CHACHA20-POLY1305 or
//                     IDEA-CTR-HMAC-SHA256; 3 = `keys` mode, authorizing the vectors' client key
//           bit 2:    play the client after a ServerHello: the frames that follow are record
//                     plaintexts the target seals under the real c2s keys (see below), so the
//                     fuzzer reaches the finished checks instead of stopping at the tag
//           bit 3:    precheck() the ClientHello first, as the server's admission does
//           bit 4:    the server is full (has_room says no)
// In client mode a frame's body is [op] data...: op bits 0-2 are the content type (0-7, so
// unknown types too), bit 3 puts the real transcript hash in front of data, bit 4 replaces
// data by a complete finished signed with the vectors' client key, bit 7 sends the body
// unsealed after all. Client mode needs the vectors' transport key in the ClientHello (it
// unwraps the secret with the private half); with any other key the frames go unsealed.
//
// Checked: a ClientHello is answered by one frame, an Error frame carrying the failure's code
// or a ServerHello that picks a suite both sides have, carries our key and verifies under it;
// a failed finished is answered by nothing, or (authentic record) by one close(auth_failed);
// an established session's s2c record #0 is the finished over th; nothing is accepted after.
#include <botan/pubkey.h>
#include <botan/rsa.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "parley/frame.hpp"
#include "parley/handshake.hpp"
#include "parley/key_schedule.hpp"
#include "parley/rsa_key.hpp"
#include "parley/server_handshake.hpp"
#include "support.hpp"

namespace {

using namespace parley;

std::unique_ptr<Botan::RSA_PrivateKey> vector_key(const nlohmann::json& key) {
  return rsa_private_key_from_pem(key["private_key_pkcs8_pem"].get<std::string>());
}

// Everything that is the same for every input, made once.
struct Fixture {
  fuzz::FixedRng rng;
  ServerIdentity identity{vector_key(fuzz::vectors("handshake.json")["keys"]["server_identity"]),
                          rng};
  std::unique_ptr<Botan::RSA_PrivateKey> transport =
      vector_key(fuzz::vectors("handshake.json")["keys"]["transport"]);
  Bytes transport_spki = spki_of(*transport);
  std::unique_ptr<Botan::RSA_PrivateKey> client =
      vector_key(fuzz::vectors("handshake.json")["client_auth"]["identity_key"]);
  Bytes client_spki = spki_of(*client);
  std::string client_fingerprint = fingerprint_of(client_spki);
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// One whole frame expected in `wire`: its body.
std::optional<Bytes> only_frame(const Bytes& wire) {
  FrameDecoder d(std::numeric_limits<std::uint32_t>::max());
  d.feed(wire);
  auto body = d.next();
  if (!body) return std::nullopt;
  Bytes out(body->begin(), body->end());
  if (d.buffered() != 0) return std::nullopt;
  return out;
}

// The client's side of the keys, known once a ServerHello has been checked.
struct ClientKeys {
  const SuiteInfo* suite;
  Digest th;
  RecordSealer c2s;
  RecordOpener s2c;
};

// Checks the answer to the ClientHello; returns the client's keys when client mode can go on.
std::optional<ClientKeys> check_server_hello(Fixture& f, ByteView client_hello,
                                             const HandshakeStep& step, const ServerPolicy& policy,
                                             bool client_mode) {
  FUZZ_CHECK(!step.established);
  const auto frame = only_frame(step.send);
  FUZZ_CHECK(frame.has_value());
  if (step.failure) {
    const auto error = parse_error_frame(*frame);
    FUZZ_CHECK(error && error->code == step.failure->code);
    return std::nullopt;
  }
  const auto parsed_ch = parse_client_hello(client_hello);
  FUZZ_CHECK(std::holds_alternative<ClientHello>(parsed_ch));
  const auto& ch = std::get<ClientHello>(parsed_ch);
  const auto sh = parse_server_hello(*frame);
  FUZZ_CHECK(sh.has_value());
  FUZZ_CHECK(sh->hello.server_key == f.identity.spki());
  FUZZ_CHECK(std::find(ch.suites.begin(), ch.suites.end(), sh->hello.suite) != ch.suites.end());
  const SuiteInfo* suite = find_suite(sh->hello.suite);
  FUZZ_CHECK(suite != nullptr);
  FUZZ_CHECK(std::find(policy.suites.begin(), policy.suites.end(), suite->id) !=
             policy.suites.end());
  Bytes transcript(client_hello.begin(), client_hello.end());
  append(transcript, ByteView(*frame).first(sh->signed_part_size));
  FUZZ_CHECK(verify_transcript(f.identity.key(), kServerSignatureLabel, sha256(transcript),
                               sh->hello.signature));

  if (!client_mode || ch.transport_key != f.transport_spki) return std::nullopt;
  Botan::PK_Decryptor_EME decryptor(*f.transport, f.rng, kOaepPadding);
  const Secret secret = decryptor.decrypt(sh->hello.wrapped_secret);
  FUZZ_CHECK(secret.size() == kSecretSize);
  const Digest th = transcript_hash(client_hello, *frame);
  TrafficSecrets ts = derive_traffic_secrets(secret, ch.random, sh->hello.random, th);
  ClientKeys keys{suite, th, RecordSealer(*suite, std::move(ts.c2s)),
                  RecordOpener(Direction::server_to_client, *suite, std::move(ts.s2c))};
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  keys.c2s.set_volume_limits(kMax, kMax);
  return keys;
}

// The frame body client mode sends for one input frame.
Bytes client_record(Fixture& f, ClientKeys& keys, ByteView in) {
  const std::uint8_t op = in[0];
  if (op & 0x80) return Bytes(in.begin(), in.end());
  const auto type = static_cast<ContentType>(op & 0x07);
  Bytes data;
  if (op & 0x10) {
    data = encode_client_finished(
        keys.th, f.client_spki, sign_transcript(*f.client, f.rng, kClientSignatureLabel, keys.th));
  } else {
    if (op & 0x08) append(data, keys.th);
    append(data, in.subspan(1));
  }
  Bytes wire;
  if (type == ContentType::key_update)
    keys.c2s.update_keys(wire);  // it carries no data: the sealer's only way to send one
  else
    keys.c2s.seal(type, data, wire);
  return *only_frame(wire);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  Fixture& f = fixture();
  f.rng.reset();

  const std::uint8_t options = data[0];
  ServerPolicy policy;
  const std::size_t preferred = options & 0x03;
  const std::vector<SuiteId> all = {SuiteId::aes_256_gcm, SuiteId::chacha20_poly1305,
                                    SuiteId::idea_ctr_hmac_sha256};
  for (std::size_t i = 0; i < all.size(); ++i)
    policy.suites.push_back(all[(i + (preferred == 3 ? 0 : preferred)) % all.size()]);
  if (preferred == 3)
    policy.authorize = [&f](std::string_view fp) { return fp == f.client_fingerprint; };
  if (options & 0x10) policy.has_room = [] { return false; };
  const bool client_mode = (options & 0x04) != 0;

  ServerHandshake server(f.identity, policy, f.rng);
  FrameDecoder decoder(kHandshakeMaxFrame);
  decoder.feed(ByteView(data + 1, size - 1));

  Bytes client_hello;
  std::optional<ClientKeys> keys;
  bool over = false;  // failed or established: nothing more may be accepted
  for (std::size_t n = 0; auto view = decoder.next(); ++n) {
    const Bytes in(view->begin(), view->end());
    if (over) {
      const HandshakeStep late = server.on_frame(in);
      FUZZ_CHECK(late.failure && !late.established && late.send.empty());
      continue;
    }
    if (n == 0) {
      client_hello = in;
      if (options & 0x08) {
        const auto refused = server.precheck(in);
        // precheck() and on_frame() judge a ClientHello alike.
        const HandshakeStep step = server.on_frame(in);
        FUZZ_CHECK(refused.has_value() == step.failure.has_value());
        if (refused) FUZZ_CHECK(refused->code == step.failure->code);
        keys = check_server_hello(f, client_hello, step, policy, client_mode);
        over = step.failure.has_value();
      } else {
        const HandshakeStep step = server.on_frame(in);
        keys = check_server_hello(f, client_hello, step, policy, client_mode);
        over = step.failure.has_value();
      }
      continue;
    }

    const Bytes body = keys ? client_record(f, *keys, in) : in;
    const HandshakeStep step = server.on_frame(body);
    over = true;
    FUZZ_CHECK(step.failure.has_value() != step.established.has_value());
    if (step.failure) {
      if (step.send.empty()) continue;
      FUZZ_CHECK(step.failure->code == StatusCode::auth_failed);
      if (!keys) continue;
      const auto record = only_frame(step.send);
      FUZZ_CHECK(record.has_value());
      auto opened = keys->s2c.open(*record);
      FUZZ_CHECK(std::holds_alternative<OpenedRecord>(opened));
      const auto& close = std::get<OpenedRecord>(opened);
      FUZZ_CHECK(close.type == ContentType::close);
      const auto parsed = parse_close(close.data);
      FUZZ_CHECK(parsed && parsed->code == StatusCode::auth_failed);
      continue;
    }
    const Established& est = *step.established;
    FUZZ_CHECK(est.server_fingerprint == f.identity.fingerprint());
    if (policy.authorize) FUZZ_CHECK(est.client_fingerprint == f.client_fingerprint);
    FUZZ_CHECK(est.client_identity.empty() == est.client_fingerprint.empty());
    if (!keys) continue;
    FUZZ_CHECK(est.th == keys->th);
    const auto record = only_frame(step.send);
    FUZZ_CHECK(record.has_value());
    auto opened = keys->s2c.open(*record);
    FUZZ_CHECK(std::holds_alternative<OpenedRecord>(opened));
    const auto& finished = std::get<OpenedRecord>(opened);
    FUZZ_CHECK(finished.type == ContentType::finished);
    FUZZ_CHECK(
        std::equal(finished.data.begin(), finished.data.end(), keys->th.begin(), keys->th.end()));
  }
  return 0;
}
