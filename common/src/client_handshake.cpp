#include "parley/client_handshake.hpp"

#include <botan/mem_ops.h>
#include <botan/pubkey.h>

#include <algorithm>

#include "parley/frame.hpp"
#include "parley/key_schedule.hpp"
#include "parley/rsa_key.hpp"

namespace parley {

ClientHandshake::ClientHandshake(std::unique_ptr<Botan::RSA_PrivateKey> transport_key,
                                 ClientOptions options, Botan::RandomNumberGenerator& rng)
    : transport_key_(std::move(transport_key)), options_(std::move(options)), rng_(rng) {}

Bytes ClientHandshake::start() {
  if (state_ != State::start) throw std::logic_error("ClientHandshake::start called twice");
  ClientHello hello;
  rng_.randomize(hello.random.data(), hello.random.size());
  for (SuiteId id : options_.suites)
    hello.suites.push_back(static_cast<std::uint16_t>(id));
  hello.transport_key = spki_of(*transport_key_);
  hello.transport_key_sha256 = sha256(hello.transport_key);
  client_random_ = hello.random;
  client_hello_ = encode(hello);
  state_ = State::server_hello;
  return encode_frame(client_hello_);
}

HandshakeStep ClientHandshake::fail(StatusCode code, std::string reason) {
  state_ = State::done;
  HandshakeStep step;
  step.failure = HandshakeFailure{code, std::move(reason)};
  return step;
}

HandshakeStep ClientHandshake::on_frame(ByteView body) {
  switch (state_) {
    case State::server_hello:
      return on_server_hello(body);
    case State::server_finished:
      return on_server_finished(body);
    case State::start:
    case State::trust:
    case State::done:
      break;
  }
  return fail(StatusCode::bad_message, "unexpected frame from server");
}

HandshakeStep ClientHandshake::on_server_hello(ByteView body) {
  if (!body.empty() && body[0] == kErrorFrameType) {
    auto error = parse_error_frame(body);
    if (!error) return fail(StatusCode::bad_message, "malformed error frame from server");
    return fail(error->code, "server refused: " + error->reason);
  }
  auto parsed = parse_server_hello(body);
  if (!parsed) return fail(StatusCode::bad_message, "malformed ServerHello");
  server_hello_ = std::move(parsed->hello);
  const auto& sh = server_hello_;

  const bool offered = std::any_of(options_.suites.begin(), options_.suites.end(), [&](SuiteId id) {
    return static_cast<std::uint16_t>(id) == sh.suite;
  });
  if (!offered) return fail(StatusCode::bad_message, "server chose a suite we did not offer");

  auto server_key = parse_rsa_spki(sh.server_key, 2048);
  if (!server_key) return fail(StatusCode::bad_key, "server key is not RSA of at least 2048 bits");

  Bytes transcript = client_hello_;
  append(transcript, body.first(parsed->signed_part_size));
  const Digest digest = sha256(transcript);
  if (!verify_transcript(*server_key, kServerSignatureLabel, digest, sh.signature))
    return fail(StatusCode::auth_failed, "server signature invalid");

  server_fingerprint_ = fingerprint_of(sh.server_key);
  th_ = transcript_hash(client_hello_, body);

  if (options_.pinned_fingerprint) {
    if (*options_.pinned_fingerprint != server_fingerprint_)
      return fail(StatusCode::auth_failed, "server fingerprint " + server_fingerprint_ +
                                               " does not match the pinned " +
                                               *options_.pinned_fingerprint);
    return send_finished();
  }
  state_ = State::trust;
  return {};
}

HandshakeStep ClientHandshake::trust_server() {
  if (state_ != State::trust) throw std::logic_error("trust_server() without a pending decision");
  return send_finished();
}

HandshakeStep ClientHandshake::send_finished() {
  Secret secret;
  try {
    if (options_.transport_decryptor) {
      secret = options_.transport_decryptor->decrypt(server_hello_.wrapped_secret);
    } else {
      Botan::PK_Decryptor_EME decryptor(*transport_key_, rng_, kOaepPadding);
      secret = decryptor.decrypt(server_hello_.wrapped_secret);
    }
  } catch (const std::exception&) {
    return fail(StatusCode::bad_message, "wrapped secret does not decrypt");
  }
  if (secret.size() != kSecretSize)
    return fail(StatusCode::bad_message, "wrapped secret has the wrong size");

  const SuiteInfo& suite = *find_suite(server_hello_.suite);
  TrafficSecrets ts = derive_traffic_secrets(secret, client_random_, server_hello_.random, th_);
  sealer_.emplace(suite, std::move(ts.c2s));
  opener_.emplace(Direction::server_to_client, suite, std::move(ts.s2c));
  // The transport key has done its one job; dropping it now is what makes
  // the session keys unrecoverable later.
  transport_key_.reset();

  Bytes identity;
  Bytes signature;
  if (options_.identity) {
    identity = spki_of(*options_.identity);
    signature = sign_transcript(*options_.identity, rng_, kClientSignatureLabel, th_);
  }
  HandshakeStep step;
  sealer_->seal(ContentType::finished, encode_client_finished(th_, identity, signature), step.send);
  state_ = State::server_finished;
  return step;
}

std::optional<HandshakeFailure> check_server_finished(RecordOpener& opener, ByteView body,
                                                      const Digest& th) {
  auto opened = opener.open(body);
  if (auto* error = std::get_if<RecordError>(&opened))
    return HandshakeFailure{StatusCode::bad_message, std::string(describe(*error))};
  const auto& record = std::get<OpenedRecord>(opened);
  if (record.type == ContentType::close) {
    auto close = parse_close(record.data);
    return HandshakeFailure{close->code, "server closed the handshake: " + close->reason};
  }
  if (record.data.size() != th.size() ||
      !Botan::constant_time_compare(record.data.data(), th.data(), th.size()))
    return HandshakeFailure{StatusCode::bad_message,
                            "server finished does not match the transcript"};
  return std::nullopt;
}

HandshakeStep ClientHandshake::on_server_finished(ByteView body) {
  if (auto failure = check_server_finished(*opener_, body, th_))
    return fail(failure->code, std::move(failure->reason));
  HandshakeStep step;
  step.established =
      Established{std::move(*sealer_), std::move(*opener_), th_, server_fingerprint_, {}, {}};
  if (options_.identity) {
    step.established->client_identity = spki_of(*options_.identity);
    step.established->client_fingerprint = fingerprint_of(step.established->client_identity);
  }
  state_ = State::done;
  return step;
}

}  // namespace parley
