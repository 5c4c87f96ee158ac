// The client side of the handshake as a sans-I/O state machine.
//
//   start()           -> ClientHello frame
//   on_frame(SH)      -> verifies the ServerHello; with a pinned fingerprint
//                        it goes on by itself, otherwise it stops with
//                        awaiting_trust() so the caller can consult
//                        known_hosts or ask the user
//   trust_server()    -> c2s record #0 (finished)
//   on_frame(s2c #0)  -> established
#pragma once

#include <botan/pubkey.h>
#include <botan/rng.h>
#include <botan/rsa.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parley/handshake.hpp"
#include "parley/suite.hpp"

namespace parley {

struct ClientOptions {
  std::vector<SuiteId> suites = {SuiteId::aes_256_gcm, SuiteId::chacha20_poly1305,
                                 SuiteId::idea_ctr_hmac_sha256};
  // When set, any other server fingerprint aborts the handshake.
  std::optional<std::string> pinned_fingerprint;
  // Long-term identity for PROTOCOL.md 3.3; null for an anonymous client.
  std::shared_ptr<const Botan::RSA_PrivateKey> identity;
  // Benchmarks only, with pooled transport keys: an OAEP decryptor already made for this
  // transport key, reused across connections (making one costs a modular inverse for RSA
  // blinding, about as much as the decryption). Null: one is made here, as the client does.
  std::shared_ptr<Botan::PK_Decryptor> transport_decryptor;
};

// What the client makes of s2c record #0: nullopt when it is the finished
// that matches th, else why not (a close record carries the server's reason).
std::optional<HandshakeFailure> check_server_finished(RecordOpener& opener, ByteView body,
                                                      const Digest& th);

class ClientHandshake {
 public:
  // The transport key is used for this one connection only. Tests and
  // benchmarks pass keys from a pool; the shipped client makes a fresh one.
  ClientHandshake(std::unique_ptr<Botan::RSA_PrivateKey> transport_key, ClientOptions options,
                  Botan::RandomNumberGenerator& rng);

  // The ClientHello frame. Call once, first.
  Bytes start();

  HandshakeStep on_frame(ByteView body);

  // True after a verified ServerHello whose fingerprint nobody pinned.
  bool awaiting_trust() const { return state_ == State::trust; }
  // Known once the ServerHello's signature has verified.
  const std::string& server_fingerprint() const { return server_fingerprint_; }
  // The caller accepts server_fingerprint(): returns the finished frame.
  HandshakeStep trust_server();

 private:
  enum class State { start, server_hello, trust, server_finished, done };

  HandshakeStep on_server_hello(ByteView body);
  HandshakeStep on_server_finished(ByteView body);
  HandshakeStep send_finished();
  HandshakeStep fail(StatusCode code, std::string reason);

  std::unique_ptr<Botan::RSA_PrivateKey> transport_key_;
  ClientOptions options_;
  Botan::RandomNumberGenerator& rng_;
  State state_ = State::start;
  Bytes client_hello_;
  Random client_random_{};
  ServerHello server_hello_;
  Digest th_{};
  std::string server_fingerprint_;
  std::optional<RecordSealer> sealer_;
  std::optional<RecordOpener> opener_;
};

}  // namespace parley
