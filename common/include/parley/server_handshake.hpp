// The server side of the handshake as a sans-I/O state machine: frame bodies
// in, frames out. No sockets, no clocks; the RNG is passed in.
#pragma once

#include <botan/pubkey.h>
#include <botan/rng.h>
#include <botan/rsa.h>

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "parley/handshake.hpp"
#include "parley/suite.hpp"

namespace parley {

// The long-term identity key with its public forms computed once, and one
// signer kept for the life of the process: Botan sets up RSA blinding (a
// constant-time modular inverse) per PK_Signer, which costs about as much as
// the signature itself, so building a signer per handshake would double the
// server's CPU per connection. The rng must outlive the identity.
class ServerIdentity {
 public:
  ServerIdentity(std::unique_ptr<Botan::RSA_PrivateKey> key, Botan::RandomNumberGenerator& rng);
  ~ServerIdentity();

  const Botan::RSA_PrivateKey& key() const { return *key_; }
  const Bytes& spki() const { return spki_; }
  const std::string& fingerprint() const { return fingerprint_; }

  // RSA-PSS over label || digest (see sign_transcript).
  Bytes sign(std::string_view label, const Digest& digest);

 private:
  std::unique_ptr<Botan::RSA_PrivateKey> key_;
  Botan::RandomNumberGenerator& rng_;
  std::unique_ptr<Botan::PK_Signer> signer_;
  Bytes spki_;
  std::string fingerprint_;
};

struct ServerPolicy {
  std::vector<SuiteId> suites;  // the server's order of preference
  std::size_t min_client_rsa_bits = 2048;
  // Check 5 of PROTOCOL.md 2.2; unset means there is always room.
  std::function<bool()> has_room;
  // Unset: `open` mode. Set: `keys` mode, where a client must present an
  // identity whose fingerprint this accepts.
  std::function<bool(std::string_view fingerprint)> authorize;
  // Unset: nobody is banned. Set: a client presenting an identity this says is banned is refused
  // as soon as its finished names the key, before the list, the key's parsing or its signature.
  std::function<bool(std::string_view fingerprint)> banned;
};

// The auth_failed reason of a client whose identity key is banned.
inline constexpr std::string_view kBannedKeyReason = "client key banned";

// What the server makes of c2s record #0 (PROTOCOL.md 3.3).
struct ClientFinishedVerdict {
  std::optional<HandshakeFailure> failure;
  // On failure: whether the record was authentic, so the answer is a
  // close(auth_failed) record rather than silence.
  bool reply_close = false;
  Bytes identity;  // DER SPKI of an authenticated client, else empty
  // The presented identity's fingerprint, also when it was refused (for the log).
  std::string fingerprint;
};
ClientFinishedVerdict check_client_finished(RecordOpener& opener, ByteView body, const Digest& th,
                                            const ServerPolicy& policy);

class ServerHandshake {
 public:
  // identity, policy and rng must outlive the handshake.
  ServerHandshake(ServerIdentity& identity, const ServerPolicy& policy,
                  Botan::RandomNumberGenerator& rng);

  // Feed each frame body as it arrives. The first is the ClientHello; the
  // answer is the ServerHello (one RSA-OAEP encryption and one RSA-PSS
  // signature) or an Error frame. The second is c2s record #0; the answer is
  // s2c record #0 and `established`, or a failure.
  HandshakeStep on_frame(ByteView body);

  // Checks 1-5 of PROTOCOL.md 2.2 only, without any RSA private-key work, so
  // a caller can refuse a bad ClientHello before queueing for a signature.
  // What it accepted is kept for on_frame() with the same body: parsing the
  // transport key costs Botan a constant-time division, not worth paying twice.
  std::optional<HandshakeFailure> precheck(ByteView client_hello);

  // The fingerprint of the identity the client presented in its finished, accepted or not
  // (empty before, or for an anonymous client): what an auth_failed log line names.
  const std::string& presented_fingerprint() const { return presented_fingerprint_; }

 private:
  enum class State { client_hello, client_finished, done };

  HandshakeStep on_client_hello(ByteView body);
  HandshakeStep on_client_finished(ByteView body);
  HandshakeStep fail(HandshakeFailure failure, Bytes send = {});

  struct Accepted {
    ClientHello hello;
    std::unique_ptr<Botan::RSA_PublicKey> transport_key;
    const SuiteInfo* suite = nullptr;
  };
  std::variant<Accepted, HandshakeFailure> check_client_hello(ByteView body) const;

  Bytes prechecked_body_;
  std::optional<Accepted> prechecked_;

  ServerIdentity& identity_;
  const ServerPolicy& policy_;
  Botan::RandomNumberGenerator& rng_;
  State state_ = State::client_hello;
  std::string presented_fingerprint_;
  Digest th_{};
  std::optional<RecordSealer> sealer_;
  std::optional<RecordOpener> opener_;
};

}  // namespace parley
