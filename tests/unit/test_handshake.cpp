// Whole handshakes in memory: a ClientHandshake and a ServerHandshake
// exchanging frames through FrameDecoders, then records both ways.
#include <gtest/gtest.h>

#include "parley/client_handshake.hpp"
#include "parley/frame.hpp"
#include "parley/rsa_key.hpp"
#include "parley/server_handshake.hpp"
#include "test_support.hpp"

namespace parley {
namespace {

ServerIdentity& server_identity() {
  static test::ScriptedRng rng;
  static ServerIdentity identity(test::vector_key("server_identity"), rng);
  return identity;
}

std::shared_ptr<const Botan::RSA_PrivateKey> client_identity() {
  static const std::shared_ptr<const Botan::RSA_PrivateKey> key =
      test::vector_key("client_identity");
  return key;
}

std::vector<Bytes> bodies(const Bytes& stream) {
  FrameDecoder d(kHandshakeMaxFrame);
  d.feed(stream);
  std::vector<Bytes> out;
  while (auto f = d.next())
    out.emplace_back(f->begin(), f->end());
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(d.error(), FrameError::none);
  return out;
}

struct Outcome {
  std::optional<Established> client;
  std::optional<Established> server;
  std::optional<HandshakeFailure> client_failure;
  std::optional<HandshakeFailure> server_failure;
  std::size_t frames_to_client = 0;
  // Set once the client asks about the server's key (run() with trust = false then stops): the
  // bytes it handed back with the question, which must be none.
  std::optional<Bytes> sent_untrusted;
};

// Runs the handshake to its end. The test's transport key is the vector's
// (reused: generating a fresh RSA key per test would dominate the run time).
Outcome run(const ServerPolicy& policy, ClientOptions options, bool trust = true,
            bool precheck = false) {
  test::ScriptedRng client_rng(Bytes{}), server_rng(Bytes(1, 0x42));
  ClientHandshake client(test::vector_key("transport"), std::move(options), client_rng);
  ServerHandshake server(server_identity(), policy, server_rng);
  Outcome out;

  std::vector<Bytes> to_server = bodies(client.start());
  for (int round = 0; round < 4 && !to_server.empty(); ++round) {
    std::vector<Bytes> to_client;
    for (const auto& body : to_server) {
      // As parleyd does: the cheap checks first, then the signature.
      if (precheck && round == 0) {
        EXPECT_FALSE(server.precheck(body));
      }
      auto step = server.on_frame(body);
      for (auto& b : bodies(step.send))
        to_client.push_back(std::move(b));
      if (step.failure) out.server_failure = step.failure;
      if (step.established) out.server = std::move(step.established);
    }
    to_server.clear();
    out.frames_to_client += to_client.size();
    for (const auto& body : to_client) {
      auto step = client.on_frame(body);
      if (client.awaiting_trust()) {
        if (!trust) {
          out.sent_untrusted = step.send;
          return out;
        }
        step = client.trust_server();
      }
      for (auto& b : bodies(step.send))
        to_server.push_back(std::move(b));
      if (step.failure) out.client_failure = step.failure;
      if (step.established) out.client = std::move(step.established);
    }
  }
  return out;
}

ServerPolicy policy_with(std::vector<SuiteId> suites) {
  ServerPolicy p;
  p.suites = std::move(suites);
  return p;
}

ServerPolicy all_suites_policy() {
  return policy_with(
      {SuiteId::aes_256_gcm, SuiteId::chacha20_poly1305, SuiteId::idea_ctr_hmac_sha256});
}

Bytes seal(RecordSealer& s, ContentType type, std::string_view text) {
  Bytes out;
  s.seal(type, as_bytes(text), out);
  return out;
}

std::string open_one(RecordOpener& o, const Bytes& stream) {
  std::string got;
  for (const auto& body : bodies(stream)) {
    auto opened = o.open(body);
    if (!std::holds_alternative<OpenedRecord>(opened))
      return std::string("error: ") + std::string(describe(std::get<RecordError>(opened)));
    if (std::get<OpenedRecord>(opened).type == ContentType::app)
      got += as_chars(std::get<OpenedRecord>(opened).data);
  }
  return got;
}

class HandshakePerSuite : public ::testing::TestWithParam<SuiteId> {};

TEST_P(HandshakePerSuite, EstablishesAndCarriesRecordsBothWays) {
  ClientOptions options;
  options.suites = {GetParam()};
  Outcome o = run(all_suites_policy(), options);
  ASSERT_FALSE(o.server_failure) << o.server_failure->reason;
  ASSERT_FALSE(o.client_failure) << o.client_failure->reason;
  ASSERT_TRUE(o.client && o.server);
  Established& c = *o.client;
  Established& s = *o.server;
  EXPECT_EQ(c.sealer.suite().id, GetParam());
  EXPECT_EQ(s.sealer.suite().id, GetParam());
  EXPECT_EQ(c.th, s.th);
  EXPECT_EQ(c.server_fingerprint, server_identity().fingerprint());
  EXPECT_TRUE(s.client_fingerprint.empty());

  // The welcome is s2c #1, then traffic, key updates each way, more traffic.
  EXPECT_EQ(open_one(c.opener, seal(s.sealer, ContentType::app, "welcome")), "welcome");
  EXPECT_EQ(open_one(s.opener, seal(c.sealer, ContentType::app, "hello server")), "hello server");
  Bytes c_update, s_update;
  c.sealer.update_keys(c_update);
  s.sealer.update_keys(s_update);
  EXPECT_EQ(open_one(s.opener, c_update), "");
  EXPECT_EQ(open_one(c.opener, s_update), "");
  EXPECT_EQ(s.opener.epoch(), 1u);
  EXPECT_EQ(c.opener.epoch(), 1u);
  EXPECT_EQ(open_one(s.opener, seal(c.sealer, ContentType::app, "after c2s update")),
            "after c2s update");
  EXPECT_EQ(open_one(c.opener, seal(s.sealer, ContentType::app, "after s2c update")),
            "after s2c update");
}

TEST_P(HandshakePerSuite, ClientIdentityInKeysMode) {
  ClientOptions options;
  options.suites = {GetParam()};
  options.identity = client_identity();
  const std::string fp = fingerprint_of(spki_of(*client_identity()));
  ServerPolicy policy = all_suites_policy();
  policy.authorize = [&](std::string_view f) { return f == fp; };
  Outcome o = run(policy, options);
  ASSERT_TRUE(o.client && o.server);
  EXPECT_EQ(o.server->client_fingerprint, fp);
  EXPECT_EQ(o.client->client_fingerprint, fp);
}

INSTANTIATE_TEST_SUITE_P(AllSuites, HandshakePerSuite, ::testing::ValuesIn(test::all_suite_ids()),
                         [](const auto& info) { return test::suite_test_name(info.param); });

TEST(Handshake, PrecheckThenOnFrameEstablishes) {
  Outcome o = run(all_suites_policy(), ClientOptions{}, true, /*precheck=*/true);
  ASSERT_TRUE(o.client && o.server);
  EXPECT_EQ(o.client->th, o.server->th);
}

TEST(Handshake, RoomRunningOutAfterPrecheckIsServerFull) {
  test::ScriptedRng client_rng, server_rng;
  ClientHandshake client(test::vector_key("transport"), ClientOptions{}, client_rng);
  bool room = true;
  ServerPolicy policy = all_suites_policy();
  policy.has_room = [&room] { return room; };
  ServerHandshake server(server_identity(), policy, server_rng);
  const auto hello = bodies(client.start()).at(0);
  EXPECT_FALSE(server.precheck(hello));
  room = false;  // the last slot went while this handshake waited to sign
  auto step = server.on_frame(hello);
  ASSERT_TRUE(step.failure);
  EXPECT_EQ(step.failure->code, StatusCode::server_full);
}

TEST(Handshake, ServerOrderWins) {
  ClientOptions options;
  options.suites = {SuiteId::idea_ctr_hmac_sha256, SuiteId::chacha20_poly1305};
  Outcome o = run(policy_with({SuiteId::aes_256_gcm, SuiteId::chacha20_poly1305,
                               SuiteId::idea_ctr_hmac_sha256}),
                  options);
  ASSERT_TRUE(o.client);
  EXPECT_EQ(o.client->sealer.suite().id, SuiteId::chacha20_poly1305);
}

TEST(Handshake, IdentityIsOptionalInOpenMode) {
  ClientOptions options;
  options.identity = client_identity();
  Outcome o = run(all_suites_policy(), options);
  ASSERT_TRUE(o.server);
  EXPECT_EQ(o.server->client_fingerprint, fingerprint_of(spki_of(*client_identity())));
}

void expect_auth_refused(const Outcome& o) {
  ASSERT_TRUE(o.server_failure);
  EXPECT_EQ(o.server_failure->code, StatusCode::auth_failed);
  ASSERT_TRUE(o.client_failure) << "the client reads the close(auth_failed) record";
  EXPECT_EQ(o.client_failure->code, StatusCode::auth_failed);
  EXPECT_FALSE(o.client || o.server);
}

TEST(Handshake, KeysModeRefusesAnonymousClients) {
  ServerPolicy policy = all_suites_policy();
  policy.authorize = [](std::string_view) { return true; };
  expect_auth_refused(run(policy, ClientOptions{}));
}

TEST(Handshake, KeysModeRefusesUnlistedKeys) {
  ServerPolicy policy = all_suites_policy();
  policy.authorize = [](std::string_view) { return false; };
  ClientOptions options;
  options.identity = client_identity();
  expect_auth_refused(run(policy, options));
}

// An operator's ban (parleyctl ban): the key is refused by its fingerprint, before the list is
// asked, even in open mode; anonymous clients and other keys are not affected.
TEST(Handshake, BannedKeysAreRefusedBeforeTheList) {
  const std::string fp = fingerprint_of(spki_of(*client_identity()));
  bool listed_asked = false;
  ServerPolicy policy = all_suites_policy();
  policy.banned = [&](std::string_view f) { return f == fp; };
  ClientOptions options;
  options.identity = client_identity();
  const Outcome open_mode = run(policy, options);
  expect_auth_refused(open_mode);
  EXPECT_EQ(open_mode.server_failure->reason, kBannedKeyReason);
  policy.authorize = [&](std::string_view) { return listed_asked = true; };
  expect_auth_refused(run(policy, options));
  EXPECT_FALSE(listed_asked);
  policy.authorize = nullptr;
  EXPECT_TRUE(run(policy, ClientOptions{}).server);  // anonymous: nothing to ban
}

TEST(Handshake, NoCommonSuite) {
  ClientOptions options;
  options.suites = {SuiteId::idea_ctr_hmac_sha256};
  Outcome o = run(policy_with({SuiteId::aes_256_gcm}), options);
  ASSERT_TRUE(o.client_failure);
  EXPECT_EQ(o.client_failure->code, StatusCode::no_common_suite);
  EXPECT_EQ(o.server_failure->code, StatusCode::no_common_suite);
}

TEST(Handshake, ServerFull) {
  ServerPolicy policy = all_suites_policy();
  policy.has_room = [] { return false; };
  Outcome o = run(policy, ClientOptions{});
  ASSERT_TRUE(o.client_failure);
  EXPECT_EQ(o.client_failure->code, StatusCode::server_full);
}

TEST(Handshake, PinnedMismatchAbortsBeforeSendingAnything) {
  ClientOptions options;
  options.pinned_fingerprint = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  Outcome o = run(all_suites_policy(), options);
  ASSERT_TRUE(o.client_failure);
  EXPECT_EQ(o.client_failure->code, StatusCode::auth_failed);
  EXPECT_FALSE(o.server_failure || o.server) << "the server never saw a finished";
}

TEST(Handshake, UntrustedServerGetsNoFinished) {
  Outcome o = run(all_suites_policy(), ClientOptions{}, /*trust=*/false);
  EXPECT_EQ(o.frames_to_client, 1u) << "the ServerHello reached the client";
  ASSERT_TRUE(o.sent_untrusted) << "the client never asked about the server's key";
  EXPECT_EQ(to_hex(*o.sent_untrusted), "") << "the client sent bytes to an untrusted server";
  EXPECT_FALSE(o.client || o.server || o.client_failure || o.server_failure);
}

TEST(Handshake, GarbageRecordZeroIsClosedSilently) {
  test::ScriptedRng client_rng, server_rng;
  ClientHandshake client(test::vector_key("transport"), ClientOptions{}, client_rng);
  const ServerPolicy policy = all_suites_policy();
  ServerHandshake server(server_identity(), policy, server_rng);
  auto ch = bodies(client.start());
  auto step = server.on_frame(ch.at(0));
  ASSERT_FALSE(step.failure);
  step = server.on_frame(Bytes(64, 0xAB));
  ASSERT_TRUE(step.failure);
  EXPECT_TRUE(step.send.empty());
  // And a finished-state server takes nothing more.
  EXPECT_TRUE(server.on_frame(Bytes(64, 0xAB)).failure);
}

TEST(Handshake, ServerErrorFrameReachesTheClient) {
  test::ScriptedRng rng;
  ClientHandshake client(test::vector_key("transport"), ClientOptions{}, rng);
  client.start();
  auto step = client.on_frame(encode(ErrorFrame{StatusCode::server_full, "busy, retry later"}));
  ASSERT_TRUE(step.failure);
  EXPECT_EQ(step.failure->code, StatusCode::server_full);
  EXPECT_NE(step.failure->reason.find("busy, retry later"), std::string::npos);
}

}  // namespace
}  // namespace parley
