#include "parley/server_handshake.hpp"

#include <botan/mem_ops.h>

#include <botan/pubkey.h>
#include <algorithm>

#include "parley/frame.hpp"
#include "parley/key_schedule.hpp"
#include "parley/rsa_key.hpp"

namespace parley {
namespace {

HandshakeFailure failure(StatusCode code, std::string reason) {
  return {code, std::move(reason)};
}

std::string_view reason_for(StatusCode code) {
  switch (code) {
    case StatusCode::bad_message:
      return "malformed ClientHello";
    case StatusCode::bad_version:
      return "unsupported protocol version";
    default:
      return name_of(code);
  }
}

}  // namespace

ServerIdentity::ServerIdentity(std::unique_ptr<Botan::RSA_PrivateKey> key,
                               Botan::RandomNumberGenerator& rng)
    : key_(std::move(key)),
      rng_(rng),
      signer_(std::make_unique<Botan::PK_Signer>(*key_, rng_, kPssPadding)),
      spki_(spki_of(*key_)),
      fingerprint_(fingerprint_of(spki_)) {}

ServerIdentity::~ServerIdentity() = default;

Bytes ServerIdentity::sign(std::string_view label, const Digest& digest) {
  const ByteView l = as_bytes(label);
  signer_->update(l.data(), l.size());
  signer_->update(digest.data(), digest.size());
  return signer_->signature(rng_);
}

ServerHandshake::ServerHandshake(ServerIdentity& identity, const ServerPolicy& policy,
                                 Botan::RandomNumberGenerator& rng)
    : identity_(identity), policy_(policy), rng_(rng) {}

std::variant<ServerHandshake::Accepted, HandshakeFailure> ServerHandshake::check_client_hello(
    ByteView body) const {
  auto parsed = parse_client_hello(body);
  if (auto* code = std::get_if<StatusCode>(&parsed)) {
    return failure(*code, std::string(reason_for(*code)));
  }
  Accepted a{std::move(std::get<ClientHello>(parsed)), nullptr, nullptr};

  const Digest digest = sha256(a.hello.transport_key);
  if (!Botan::constant_time_compare(digest.data(), a.hello.transport_key_sha256.data(),
                                    digest.size()))
    return failure(StatusCode::key_digest_mismatch, "transport key digest mismatch");

  a.transport_key = parse_rsa_spki(a.hello.transport_key, policy_.min_client_rsa_bits);
  if (!a.transport_key)
    return failure(StatusCode::bad_key, "transport key must be RSA of " +
                                            std::to_string(policy_.min_client_rsa_bits) + ".." +
                                            std::to_string(kMaxRsaBits) + " bits");

  for (SuiteId ours : policy_.suites) {
    const auto id = static_cast<std::uint16_t>(ours);
    if (std::find(a.hello.suites.begin(), a.hello.suites.end(), id) != a.hello.suites.end()) {
      a.suite = &suite_info(ours);
      break;
    }
  }
  if (a.suite == nullptr) return failure(StatusCode::no_common_suite, "no common cipher suite");

  if (policy_.has_room && !policy_.has_room())
    return failure(StatusCode::server_full, "server full");
  return a;
}

std::optional<HandshakeFailure> ServerHandshake::precheck(ByteView client_hello) {
  auto checked = check_client_hello(client_hello);
  if (auto* f = std::get_if<HandshakeFailure>(&checked)) return *f;
  prechecked_body_.assign(client_hello.begin(), client_hello.end());
  prechecked_ = std::move(std::get<Accepted>(checked));
  return std::nullopt;
}

HandshakeStep ServerHandshake::on_frame(ByteView body) {
  switch (state_) {
    case State::client_hello:
      return on_client_hello(body);
    case State::client_finished:
      return on_client_finished(body);
    case State::done:
      break;
  }
  return fail(failure(StatusCode::internal, "handshake already over"));
}

HandshakeStep ServerHandshake::fail(HandshakeFailure f, Bytes send) {
  state_ = State::done;
  HandshakeStep step;
  step.send = std::move(send);
  step.failure = std::move(f);
  return step;
}

HandshakeStep ServerHandshake::on_client_hello(ByteView body) {
  const bool same = prechecked_ && std::equal(body.begin(), body.end(), prechecked_body_.begin(),
                                              prechecked_body_.end());
  auto checked = same ? std::variant<Accepted, HandshakeFailure>(std::move(*prechecked_))
                      : check_client_hello(body);
  prechecked_.reset();
  if (auto* f = std::get_if<HandshakeFailure>(&checked)) {
    return fail(*f, encode_frame(encode(ErrorFrame{f->code, f->reason})));
  }
  auto& a = std::get<Accepted>(checked);
  // Room may have run out while this handshake waited for a signature slot.
  if (same && policy_.has_room && !policy_.has_room())
    return fail(failure(StatusCode::server_full, "server full"),
                encode_frame(encode(ErrorFrame{StatusCode::server_full, "server full"})));

  ServerHello sh;
  rng_.randomize(sh.random.data(), sh.random.size());
  Secret secret = rng_.random_vec(kSecretSize);
  sh.suite = static_cast<std::uint16_t>(a.suite->id);
  sh.server_key = identity_.spki();
  Botan::PK_Encryptor_EME encryptor(*a.transport_key, rng_, kOaepPadding);
  sh.wrapped_secret = encryptor.encrypt(secret, rng_);

  const Bytes signed_part = encode_signed_part(sh);
  Bytes transcript(body.begin(), body.end());
  append(transcript, signed_part);
  const Digest transcript_digest = sha256(transcript);
  sh.signature = identity_.sign(kServerSignatureLabel, transcript_digest);

  const Bytes sh_body = encode(sh);
  th_ = transcript_hash(body, sh_body);
  TrafficSecrets ts = derive_traffic_secrets(secret, a.hello.random, sh.random, th_);
  opener_.emplace(Direction::client_to_server, *a.suite, std::move(ts.c2s));
  sealer_.emplace(*a.suite, std::move(ts.s2c));
  state_ = State::client_finished;

  HandshakeStep step;
  step.send = encode_frame(sh_body);
  return step;
}

ClientFinishedVerdict check_client_finished(RecordOpener& opener, ByteView body, const Digest& th,
                                            const ServerPolicy& policy) {
  ClientFinishedVerdict v;
  auto refuse = [&v](std::string reason) {
    v.failure = failure(StatusCode::auth_failed, std::move(reason));
    v.reply_close = true;
    return v;
  };
  auto opened = opener.open(body);
  if (auto* error = std::get_if<RecordError>(&opened)) {
    if (authenticated(*error)) return refuse(std::string(describe(*error)));
    // Not provably from the client: close without a word (PROTOCOL.md 3.2a).
    v.failure = failure(StatusCode::bad_message, std::string(describe(*error)));
    return v;
  }
  const auto& record = std::get<OpenedRecord>(opened);
  if (record.type != ContentType::finished) return refuse("first record is not finished");
  auto finished = parse_client_finished(record.data);
  if (!finished) return refuse("malformed finished");
  // Named before any check, so that every refusal of an authentic record that presented a key
  // (a finished replayed from another session too) logs which key it was.
  if (!finished->identity.empty()) v.fingerprint = fingerprint_of(finished->identity);
  if (!Botan::constant_time_compare(finished->th.data(), th.data(), th.size()))
    return refuse("transcript mismatch");

  if (!v.fingerprint.empty() && policy.banned && policy.banned(v.fingerprint))
    return refuse(std::string(kBannedKeyReason));
  if (finished->identity.empty()) {
    if (!finished->signature.empty()) return refuse("signature without an identity");
    if (policy.authorize) return refuse("client identity required");
    return v;
  }
  // The list first: an unlisted key costs a hash, not a signature check (the key size, and so
  // the cost of verifying, is the client's choice).
  if (policy.authorize && !policy.authorize(v.fingerprint))
    return refuse("client key not authorized");
  // The configured floor holds for the identity key as for the transport key: a server that
  // asks for 3072 bits does not let a listed 2048-bit key in.
  auto client_key = parse_rsa_spki(finished->identity, policy.min_client_rsa_bits);
  if (!client_key) return refuse("client identity is not an acceptable RSA key");
  if (!verify_transcript(*client_key, kClientSignatureLabel, th, finished->signature))
    return refuse("client signature invalid");
  v.identity.assign(finished->identity.begin(), finished->identity.end());
  return v;
}

HandshakeStep ServerHandshake::on_client_finished(ByteView body) {
  ClientFinishedVerdict v = check_client_finished(*opener_, body, th_, policy_);
  presented_fingerprint_ = v.fingerprint;
  if (v.failure) {
    Bytes send;
    if (v.reply_close)
      sealer_->seal(ContentType::close,
                    encode_close(StatusCode::auth_failed, "authentication failed"), send);
    return fail(std::move(*v.failure), std::move(send));
  }
  HandshakeStep step;
  sealer_->seal(ContentType::finished, th_, step.send);
  step.established =
      Established{std::move(*sealer_),     std::move(*opener_),   th_,
                  identity_.fingerprint(), std::move(v.identity), std::move(v.fingerprint)};
  state_ = State::done;
  return step;
}

}  // namespace parley
