// Nobody in (issue 13, item 16): with `auth.mode: keys`, whoever cannot prove a listed key of
// the required size gets no session, and the server's log names the key it refused. One test per
// way in that must stay shut; each also lets a genuine listed client in, so a server that
// refused everyone would fail it too.
#include <botan/auto_rng.h>

#include <optional>
#include <string>

#include "harness.hpp"
#include "parley/rsa_key.hpp"
#include "test_support.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;
using Key = std::shared_ptr<const Botan::RSA_PrivateKey>;

// Vector keys only: generating RSA keys would dominate the run time, and any RSA key can serve
// as a client identity.
// alice: the vector client identity (2048 bits), listed, owns the nick "alice".
Key alice() {
  static const Key key = client_identity_key();
  return key;
}
// bob: the vector server identity (3072 bits) presented by a client, listed, owns "bob"; the one
// key at hand that a 3072-bit floor admits, as identity and as transport key.
Key bob() {
  static const Key key(test::vector_key("server_identity"));
  return key;
}
// stranger: the vector transport key (2048 bits), valid but not listed.
Key stranger() {
  static const Key key(test::vector_key("transport"));
  return key;
}

std::string fingerprint(const Key& key) {
  return fingerprint_of(spki_of(*key));
}

HandshakeOptions as(Key identity) {
  HandshakeOptions options;
  options.identity = std::move(identity);
  return options;
}

// A copy of a finished's data, which outlives the hook that saw it.
struct FinishedCopy {
  Digest th{};
  Bytes identity;
  Bytes signature;
};
FinishedCopy copy_of(const ClientFinished& f) {
  return {f.th, Bytes(f.identity.begin(), f.identity.end()),
          Bytes(f.signature.begin(), f.signature.end())};
}

// What the server's log must say about a refusal.
struct Refusal {
  std::string event;   // auth_failed or handshake_failed
  std::string code;    // handshake_failed's code (auth_failed has none)
  std::string reason;  // the line's reason
  // The presented identity's; empty when none was presented (or none could be read): then the
  // line must not name one either.
  std::string fingerprint;
};

// Everything a refusal must show, for a handshake begun after log line `mark`: the client got
// no welcome, was told `told` (nullopt: nothing, the connection just closed) and the server
// closed the connection; the server logged the refusal with the presented key's fingerprint; and
// nothing was established since `mark`, this connection included.
void expect_refused(ServerProcess& server, std::size_t mark, TestClient& client,
                    const HandshakeOutcome& outcome, std::optional<StatusCode> told,
                    const Refusal& expected) {
  EXPECT_FALSE(outcome.established) << "a session for a client that should have been refused";
  EXPECT_FALSE(client.established());
  ASSERT_TRUE(outcome.failure.has_value());
  if (told) {
    EXPECT_EQ(outcome.failure->code, *told) << outcome.what;
  } else {
    EXPECT_TRUE(client.eof()) << "expected the connection closed without a word: " << outcome.what;
  }
  EXPECT_TRUE(client.wait_eof(2s)) << "the server kept the refused connection open";

  const auto line = server.wait_for_log(
      [&](const nlohmann::json& j) { return j.value("event", "") == expected.event; },
      kDefaultTimeout, mark);
  ASSERT_TRUE(line.has_value()) << "no " << expected.event << " line for the refusal";
  EXPECT_EQ(line->value("reason", ""), expected.reason) << *line;
  if (!expected.code.empty()) {
    EXPECT_EQ(line->value("code", ""), expected.code) << *line;
  }
  if (expected.fingerprint.empty()) {
    EXPECT_FALSE(line->contains("fingerprint")) << *line;
  } else {
    EXPECT_EQ(line->value("fingerprint", ""), expected.fingerprint) << *line;
  }
  // The refusal line is the handshake's last word, so nothing can be established for it later.
  for (const auto& ok : server.events("handshake_ok", mark))
    ADD_FAILURE() << "established after the mark: " << ok;
}

// A listed client that connects, is welcomed under its own key, and stays in sync.
void expect_gets_in(ServerProcess& server, TestClient& client, const Key& identity,
                    const HandshakeOptions& options) {
  const std::size_t mark = server.log_mark();
  ASSERT_TRUE(client.open(server.port(), options));
  const auto line = server.wait_for_event("handshake_ok", kDefaultTimeout, mark);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->value("client_fingerprint", ""), fingerprint(identity)) << *line;
  client.expect_alive();
}

class NobodyIn : public ::testing::Test {
 protected:
  // parleyd in keys mode, with alice and bob listed, each owning its nick.
  void start(std::uint64_t min_client_rsa_bits = 2048) {
    auto cfg = server_.default_config();
    const std::string listed =
        "# who may come in\n" + fingerprint(alice()) + " alice\n" + fingerprint(bob()) + " bob\n";
    cfg["auth"] = {{"mode", "keys"},
                   {"authorized_keys", server_.dir().write("authorized_keys", listed)}};
    cfg["limits"]["min_client_rsa_bits"] = min_client_rsa_bits;
    ASSERT_TRUE(server_.start(cfg));
  }

  // Connects and runs a handshake begun after the returned log mark.
  std::size_t attempt(TestClient& client, const HandshakeOptions& options,
                      HandshakeOutcome& outcome) {
    const std::size_t mark = server_.log_mark();
    EXPECT_TRUE(client.connect(server_.port()));
    outcome = client.handshake(options);
    return mark;
  }

  ServerProcess server_;
  Botan::AutoSeeded_RNG rng_;
};

TEST_F(NobodyIn, AnonymousClientIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  TestClient anonymous;
  HandshakeOutcome outcome;
  const auto mark = attempt(anonymous, HandshakeOptions{}, outcome);
  expect_refused(server_, mark, anonymous, outcome, StatusCode::auth_failed,
                 {"auth_failed", "", "client identity required", ""});

  TestClient listed;
  expect_gets_in(server_, listed, alice(), as(alice()));
}

TEST_F(NobodyIn, UnlistedKeyIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  TestClient genuine_signature;
  HandshakeOutcome outcome;
  auto mark = attempt(genuine_signature, as(stranger()), outcome);
  expect_refused(server_, mark, genuine_signature, outcome, StatusCode::auth_failed,
                 {"auth_failed", "", "client key not authorized", fingerprint(stranger())});

  // The list is consulted before the signature is verified (an unlisted key must not cost an
  // RSA verification of a size the client chose): a signature that would not verify is refused
  // for the same reason.
  TestClient bad_signature;
  HandshakeOptions forged = as(stranger());
  forged.forge_finished = [](const ClientFinished& genuine) {
    FinishedCopy f = copy_of(genuine);
    f.signature.at(0) ^= 0x01;
    return encode_client_finished(f.th, f.identity, f.signature);
  };
  mark = attempt(bad_signature, forged, outcome);
  expect_refused(server_, mark, bad_signature, outcome, StatusCode::auth_failed,
                 {"auth_failed", "", "client key not authorized", fingerprint(stranger())});

  TestClient listed;
  expect_gets_in(server_, listed, alice(), as(alice()));
  EXPECT_EQ(listed.nick(), "alice") << "an owning key starts with its nick";
}

TEST_F(NobodyIn, ListedKeyWithABadSignatureIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  // alice's identity, over this connection's transcript, with a signature that is not hers.
  struct Forgery {
    const char* name;
    std::function<Bytes(const ClientFinished&)> forge;
  };
  const Forgery forgeries[] = {
      {"one bit of alice's signature flipped",
       [](const ClientFinished& genuine) {
         FinishedCopy f = copy_of(genuine);
         f.signature.at(f.signature.size() / 2) ^= 0x10;
         return encode_client_finished(f.th, f.identity, f.signature);
       }},
      {"signed by another key (the stranger's, same size)",
       [this](const ClientFinished& genuine) {
         return encode_client_finished(
             genuine.th, genuine.identity,
             sign_transcript(*stranger(), rng_, kClientSignatureLabel, genuine.th));
       }},
      {"no signature at all",
       [](const ClientFinished& genuine) {
         return encode_client_finished(genuine.th, genuine.identity, {});
       }},
  };
  for (const Forgery& forgery : forgeries) {
    SCOPED_TRACE(forgery.name);
    TestClient impostor;
    HandshakeOptions options = as(alice());
    options.forge_finished = forgery.forge;
    HandshakeOutcome outcome;
    const auto mark = attempt(impostor, options, outcome);
    expect_refused(server_, mark, impostor, outcome, StatusCode::auth_failed,
                   {"auth_failed", "", "client signature invalid", fingerprint(alice())});
  }

  TestClient listed;
  expect_gets_in(server_, listed, alice(), as(alice()));
}

TEST_F(NobodyIn, ReplayedFinishedFromAnotherSessionIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  // Session A: alice, genuinely. The hook changes nothing; it only keeps what A's finished said.
  TestClient a;
  FinishedCopy a_data;
  HandshakeOptions keep = as(alice());
  keep.forge_finished = [&a_data](const ClientFinished& genuine) {
    a_data = copy_of(genuine);
    return encode_client_finished(genuine.th, genuine.identity, genuine.signature);
  };
  const std::size_t a_mark = server_.log_mark();
  ASSERT_TRUE(a.connect(server_.port()));
  ASSERT_FALSE(a.handshake_until_finished(keep).failure);
  const Bytes a_finished = a.held_finished();
  ASSERT_TRUE(a.finish_handshake().established) << "session A";
  ASSERT_FALSE(a_data.signature.empty());
  // The welcome can arrive before the log line that precedes it has been read from the
  // server's stderr: A's handshake_ok must be in before the marks below are taken.
  ASSERT_TRUE(server_.wait_for_event("handshake_ok", kDefaultTimeout, a_mark).has_value());

  // Session B sends A's record as it went over the wire: under B's keys it does not open, so it
  // is not provably from anyone and is closed without a reply (PROTOCOL.md 3.2a). No key can be
  // read from it, so none is named.
  {
    TestClient b;
    const std::size_t mark = server_.log_mark();
    ASSERT_TRUE(b.connect(server_.port()));
    ASSERT_FALSE(b.handshake_until_finished(as(alice())).failure);
    ASSERT_NE(b.held_finished(), a_finished);
    b.replace_held_finished(a_finished);
    const HandshakeOutcome outcome = b.finish_handshake();
    expect_refused(
        server_, mark, b, outcome, std::nullopt,
        {"handshake_failed", "bad_message", std::string(describe(RecordError::bad_record)), ""});
  }

  // A's finished data sealed under B's keys (what a client holding B's keys and A's plaintext
  // could send): A's transcript hash is not B's.
  {
    TestClient b;
    HandshakeOptions replay = as(alice());
    replay.forge_finished = [&a_data](const ClientFinished&) {
      return encode_client_finished(a_data.th, a_data.identity, a_data.signature);
    };
    HandshakeOutcome outcome;
    const auto mark = attempt(b, replay, outcome);
    expect_refused(server_, mark, b, outcome, StatusCode::auth_failed,
                   {"auth_failed", "", "transcript mismatch", fingerprint(alice())});
  }

  // B's own transcript hash with A's identity and signature: a signature is good for the
  // transcript it was made over, and no other.
  {
    TestClient b;
    HandshakeOptions replay = as(alice());
    replay.forge_finished = [&a_data](const ClientFinished& genuine) {
      return encode_client_finished(genuine.th, a_data.identity, a_data.signature);
    };
    HandshakeOutcome outcome;
    const auto mark = attempt(b, replay, outcome);
    expect_refused(server_, mark, b, outcome, StatusCode::auth_failed,
                   {"auth_failed", "", "client signature invalid", fingerprint(alice())});
  }

  // A, whose finished was replayed three times, is untouched.
  a.expect_alive();
  EXPECT_EQ(a.nick(), "alice");
}

TEST_F(NobodyIn, NickOwnedByAnotherKeyIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  TestClient b;
  expect_gets_in(server_, b, bob(), as(bob()));
  EXPECT_EQ(b.nick(), "bob");
  const std::size_t mark = server_.log_mark();

  // alice's nick while alice is away: reserved to her key, in any case.
  ASSERT_TRUE(b.send(req::Nick{"alice"}, RequestId{std::int64_t{1}}));
  b.expect_error(ErrorCode::nick_reserved, RequestId{std::int64_t{1}});
  ASSERT_TRUE(b.send(req::Nick{"ALICE"}, RequestId{std::int64_t{2}}));
  b.expect_error(ErrorCode::nick_reserved, RequestId{std::int64_t{2}});
  b.expect_alive();

  // Her key connects while her nick is free, and gets it.
  TestClient a;
  expect_gets_in(server_, a, alice(), as(alice()));
  EXPECT_EQ(a.nick(), "alice") << "the owner did not get its nick";

  // Now that she holds it, it is taken as well as reserved.
  ASSERT_TRUE(b.send(req::Nick{"alice"}, RequestId{std::int64_t{3}}));
  b.expect_error(ErrorCode::nick_taken, RequestId{std::int64_t{3}});
  b.expect_alive();

  // bob never held it: no nick change was logged since he connected.
  for (const auto& change : server_.events("nick", mark))
    ADD_FAILURE() << "a nick change: " << change;
}

TEST_F(NobodyIn, KeyBelowTheSizeFloorIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start(3072));
  // Transport keys are held to the floor too, in the ClientHello, before any RSA work: refused
  // with an Error frame. The identity is never sent, so no fingerprint is logged.
  {
    TestClient small_transport;
    HandshakeOutcome outcome;
    const auto mark = attempt(small_transport, as(bob()), outcome);
    expect_refused(
        server_, mark, small_transport, outcome, StatusCode::bad_key,
        {"handshake_failed", "bad_key", "transport key must be RSA of 3072..8192 bits", ""});
  }

  // alice is listed, and signs correctly, but her 2048-bit key is below the floor.
  {
    TestClient small_identity;
    HandshakeOptions options = as(alice());
    options.transport = bob();  // 3072 bits: the ClientHello passes
    HandshakeOutcome outcome;
    const auto mark = attempt(small_identity, options, outcome);
    expect_refused(
        server_, mark, small_identity, outcome, StatusCode::auth_failed,
        {"auth_failed", "", "client identity is not an acceptable RSA key", fingerprint(alice())});
  }

  TestClient listed;
  HandshakeOptions options = as(bob());
  options.transport = bob();
  expect_gets_in(server_, listed, bob(), options);
  EXPECT_EQ(listed.nick(), "bob");
}

}  // namespace
}  // namespace parley::it
