// Every case of tests/vectors/*.json, byte for byte.
#include <botan/pubkey.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "parley/client_handshake.hpp"
#include "parley/event.hpp"
#include "parley/frame.hpp"
#include "parley/key_schedule.hpp"
#include "parley/record.hpp"
#include "parley/request.hpp"
#include "parley/rsa_key.hpp"
#include "parley/server_handshake.hpp"
#include "test_support.hpp"

namespace parley {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::hex;
using test::vectors;

const json& hs() {
  return vectors("handshake.json");
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Vectors, CopyMatchesShared) {
  const fs::path shared = PARLEY_SHARED_VECTORS_DIR;
  if (!fs::is_directory(shared)) GTEST_SKIP() << "no shared/vectors beside this checkout";
  std::size_t compared = 0;
  for (const auto& entry : fs::directory_iterator(shared)) {
    const fs::path copy = fs::path(PARLEY_VECTORS_DIR) / entry.path().filename();
    ASSERT_TRUE(fs::exists(copy)) << copy << " is missing from tests/vectors";
    EXPECT_EQ(read_file(copy), read_file(entry.path())) << copy << " differs from shared";
    ++compared;
  }
  EXPECT_GE(compared, 3u);
}

Random random_of(const json& v) {
  Random r;
  const Bytes b = hex(v);
  std::copy(b.begin(), b.end(), r.begin());
  return r;
}

Digest digest_of(const json& v) {
  Digest d;
  const Bytes b = hex(v);
  std::copy(b.begin(), b.end(), d.begin());
  return d;
}

Secret secret_of(const json& v) {
  const Bytes b = hex(v);
  return Secret(b.begin(), b.end());
}

const SuiteInfo& suite_of(const json& v) {
  return *find_suite(v["suite"].get<std::uint16_t>());
}

TEST(Vectors, ClientHelloEncodesExactly) {
  const auto& ch = hs()["client_hello"];
  ClientHello h;
  h.random = random_of(hs()["client_random"]);
  for (auto id : ch["suites"])
    h.suites.push_back(id.get<std::uint16_t>());
  h.transport_key = hex(ch["transport_key"]);
  h.transport_key_sha256 = digest_of(ch["transport_key_sha256"]);
  EXPECT_EQ(to_hex(encode(h)), ch["body"].get<std::string>());
  EXPECT_EQ(to_hex(encode_frame(encode(h))), ch["frame"].get<std::string>());
  EXPECT_EQ(sha256(h.transport_key), h.transport_key_sha256);
}

// Every suite of PROTOCOL.md has its vectors: a section that came out empty must not pass.
constexpr std::size_t kSuites = 3;

TEST(Vectors, KeyScheduleForEverySuite) {
  const Bytes ch_body = hex(hs()["client_hello"]["body"]);
  std::size_t suites = 0;
  for (const auto& [id, v] : hs()["suites"].items()) {
    SCOPED_TRACE(id);
    ++suites;
    const SuiteInfo& suite = suite_of(v);
    EXPECT_EQ(suite.name, v["name"].get<std::string>());
    const Bytes sh_body = hex(v["server_hello"]["body"]);
    const Digest th = transcript_hash(ch_body, sh_body);
    EXPECT_EQ(to_hex(th), v["th"].get<std::string>());

    Bytes salt = hex(hs()["client_random"]);
    append(salt, hex(hs()["server_random"]));
    EXPECT_EQ(to_hex(hkdf_extract(salt, hex(hs()["secret"]))), v["prk"].get<std::string>());

    const auto ts = derive_traffic_secrets(hex(hs()["secret"]), random_of(hs()["client_random"]),
                                           random_of(hs()["server_random"]), th);
    EXPECT_EQ(to_hex(ts.c2s), v["ts_c2s"].get<std::string>());
    EXPECT_EQ(to_hex(ts.s2c), v["ts_s2c"].get<std::string>());
    for (const char* dir : {"c2s", "s2c"}) {
      const auto keys = derive_traffic_keys(suite, hex(v[dir]["ts"]));
      EXPECT_EQ(to_hex(keys.key), v[dir]["key"].get<std::string>()) << dir;
      EXPECT_EQ(to_hex(keys.iv), v[dir]["iv"].get<std::string>()) << dir;
      EXPECT_EQ(to_hex(keys.mac), v[dir].value("mac", "")) << dir;
    }
  }
  EXPECT_EQ(suites, kSuites);
}

TEST(Vectors, ServerHelloSignatureAndWrappedSecret) {
  const Bytes ch_body = hex(hs()["client_hello"]["body"]);
  auto server_key = parse_rsa_spki(hex(hs()["keys"]["server_identity"]["spki_der"]), 2048);
  ASSERT_TRUE(server_key);
  auto transport = test::vector_key("transport");
  test::ScriptedRng rng;
  std::size_t suites = 0;
  for (const auto& [id, v] : hs()["suites"].items()) {
    SCOPED_TRACE(id);
    ++suites;
    const auto& sh = v["server_hello"];
    auto parsed = parse_server_hello(hex(sh["body"]));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(to_hex(encode_signed_part(parsed->hello)), sh["signed_part"].get<std::string>());
    EXPECT_EQ(to_hex(encode_frame(hex(sh["body"]))), sh["frame"].get<std::string>());
    EXPECT_EQ(parsed->hello.random, random_of(hs()["server_random"]));

    Bytes transcript = ch_body;
    append(transcript, hex(sh["signed_part"]));
    const Digest d = sha256(transcript);
    Bytes input(kServerSignatureLabel.begin(), kServerSignatureLabel.end());
    append(input, d);
    EXPECT_EQ(to_hex(input), sh["signature_input"].get<std::string>());
    EXPECT_TRUE(verify_transcript(*server_key, kServerSignatureLabel, d, hex(sh["signature"])));

    Botan::PK_Decryptor_EME dec(*transport, rng, kOaepPadding);
    EXPECT_EQ(to_hex(dec.decrypt(hex(sh["wrapped_secret"]))), hs()["secret"].get<std::string>());
  }
  EXPECT_EQ(suites, kSuites);
}

// A client in the state of handshake.json: it sent exactly the vector ClientHello.
ClientHandshake vector_client(test::ScriptedRng& rng, ClientOptions options = {}) {
  rng.push(hex(hs()["client_random"]));
  ClientHandshake client(test::vector_key("transport"), std::move(options), rng);
  EXPECT_EQ(to_hex(client.start()), hs()["client_hello"]["frame"].get<std::string>());
  return client;
}

ByteView body_of(const Bytes& frame) {
  return ByteView(frame).subspan(kFrameHeaderSize);
}

TEST(Vectors, ClientHandshakeReproducesFinishedAndReadsWelcome) {
  for (const auto& [id, v] : hs()["suites"].items()) {
    SCOPED_TRACE(id);
    test::ScriptedRng rng;
    ClientHandshake client = vector_client(rng);
    auto step = client.on_frame(hex(v["server_hello"]["body"]));
    ASSERT_FALSE(step.failure) << step.failure->reason;
    ASSERT_TRUE(client.awaiting_trust());
    EXPECT_EQ(client.server_fingerprint(), hs()["server_fingerprint"].get<std::string>());
    step = client.trust_server();
    ASSERT_FALSE(step.failure) << step.failure->reason;
    EXPECT_EQ(to_hex(step.send), v["client_finished_frame"].get<std::string>());

    step = client.on_frame(body_of(hex(v["server_finished_frame"])));
    ASSERT_FALSE(step.failure) << step.failure->reason;
    ASSERT_TRUE(step.established);
    auto opened = step.established->opener.open(body_of(hex(v["welcome_frame"])));
    ASSERT_TRUE(std::holds_alternative<OpenedRecord>(opened));
    EXPECT_EQ(as_chars(std::get<OpenedRecord>(opened).data), v["welcome_json"].get<std::string>());
    auto welcome = evt::parse(v["welcome_json"].get<std::string>());
    ASSERT_TRUE(std::holds_alternative<evt::Event>(welcome));
    const auto& event = std::get<evt::Event>(welcome);
    EXPECT_EQ(std::get<evt::Welcome>(event).suite, v["name"].get<std::string>());
    EXPECT_EQ(evt::serialize(event), v["welcome_json"].get<std::string>());
  }
}

TEST(Vectors, PinnedFingerprintSkipsTheQuestion) {
  test::ScriptedRng rng;
  ClientOptions options;
  options.pinned_fingerprint = hs()["server_fingerprint"].get<std::string>();
  ClientHandshake client = vector_client(rng, options);
  const auto& v = hs()["suites"]["0x0002"];
  auto step = client.on_frame(hex(v["server_hello"]["body"]));
  ASSERT_FALSE(step.failure);
  EXPECT_EQ(to_hex(step.send), v["client_finished_frame"].get<std::string>());
}

TEST(Vectors, ClientAuthFinished) {
  const auto& ca = hs()["client_auth"];
  const auto& v = hs()["suites"]["0x0001"];
  auto identity = parse_rsa_spki(hex(ca["identity_key"]["spki_der"]), 2048);
  ASSERT_TRUE(identity);
  const Digest th = digest_of(v["th"]);
  Bytes input(kClientSignatureLabel.begin(), kClientSignatureLabel.end());
  append(input, th);
  EXPECT_EQ(to_hex(input), ca["signature_input"].get<std::string>());
  EXPECT_TRUE(verify_transcript(*identity, kClientSignatureLabel, th, hex(ca["client_signature"])));
  EXPECT_EQ(to_hex(encode_client_finished(th, hex(ca["identity_key"]["spki_der"]),
                                          hex(ca["client_signature"]))),
            ca["finished_data"].get<std::string>());

  // The server accepts the vector's record #0, in both auth modes.
  const std::string fp = ca["identity_key"]["fingerprint"].get<std::string>();
  ServerPolicy keys_mode;
  keys_mode.authorize = [&](std::string_view f) { return f == fp; };
  for (const ServerPolicy& policy : {ServerPolicy{}, keys_mode}) {
    RecordOpener opener(Direction::client_to_server, suite_of(v), secret_of(v["c2s"]["ts"]));
    auto verdict = check_client_finished(opener, body_of(hex(ca["finished_frame"])), th, policy);
    ASSERT_FALSE(verdict.failure) << verdict.failure->reason;
    EXPECT_EQ(verdict.fingerprint, fp);
  }
}

// The same record #0 refused, in keys mode and with the key listed, for what the record says
// rather than for who sent it: the verdict still names the key, for the auth_failed log line.
TEST(Vectors, ClientAuthFinishedRefusalsNameTheKey) {
  const auto& ca = hs()["client_auth"];
  const auto& v = hs()["suites"]["0x0001"];
  const std::string fp = ca["identity_key"]["fingerprint"].get<std::string>();
  ServerPolicy policy;
  policy.authorize = [&](std::string_view f) { return f == fp; };
  const Digest th = digest_of(v["th"]);
  Digest other_th = th;
  other_th[0] ^= 0x01;
  struct Case {
    const char* reason;
    std::size_t min_client_rsa_bits;
    Digest th;
  };
  // The identity key has 2048 bits: the floor applies to it as to transport keys.
  for (const Case& c : {Case{"client identity is not an acceptable RSA key", 3072, th},
                        Case{"transcript mismatch", 2048, other_th}}) {
    SCOPED_TRACE(c.reason);
    policy.min_client_rsa_bits = c.min_client_rsa_bits;
    RecordOpener opener(Direction::client_to_server, suite_of(v), secret_of(v["c2s"]["ts"]));
    auto verdict = check_client_finished(opener, body_of(hex(ca["finished_frame"])), c.th, policy);
    ASSERT_TRUE(verdict.failure);
    EXPECT_EQ(verdict.failure->code, StatusCode::auth_failed);
    EXPECT_EQ(verdict.failure->reason, c.reason);
    EXPECT_TRUE(verdict.reply_close);
    EXPECT_TRUE(verdict.identity.empty());
    EXPECT_EQ(verdict.fingerprint, fp);
  }
}

TEST(Vectors, RecordsSealAndOpenExactly) {
  std::size_t suites = 0;
  for (const auto& [id, s] : vectors("records.json")["suites"].items()) {
    const SuiteInfo& suite = suite_of(s);
    ++suites;
    for (const char* dir : {"c2s", "s2c"}) {
      SCOPED_TRACE(id + "/" + dir);
      const auto& d = s[dir];
      for (const auto& epoch : d["epochs"]) {
        const auto keys = derive_traffic_keys(suite, hex(epoch["ts"]));
        EXPECT_EQ(to_hex(keys.key), epoch["key"].get<std::string>());
        EXPECT_EQ(to_hex(keys.iv), epoch["iv"].get<std::string>());
        EXPECT_EQ(to_hex(keys.mac), epoch.value("mac", ""));
      }
      EXPECT_EQ(to_hex(next_traffic_secret(hex(d["epochs"][0]["ts"]))),
                d["epochs"][1]["ts"].get<std::string>());

      RecordSealer sealer(suite, secret_of(d["epochs"][0]["ts"]));
      RecordOpener opener(
          std::string(dir) == "c2s" ? Direction::client_to_server : Direction::server_to_client,
          suite, secret_of(d["epochs"][0]["ts"]));
      ASSERT_FALSE(d["records"].empty()) << "no records for this direction";
      for (const auto& r : d["records"]) {
        const auto type = static_cast<ContentType>(r["content_type"].get<int>());
        ASSERT_EQ(sealer.epoch(), r["epoch"].get<std::uint32_t>());
        ASSERT_EQ(sealer.seq(), r["seq"].get<std::uint64_t>());
        Bytes frame;
        if (type == ContentType::key_update) {
          sealer.update_keys(frame);
        } else {
          sealer.seal(type, hex(r["data"]), frame);
        }
        EXPECT_EQ(to_hex(frame), r["frame"].get<std::string>()) << "seq " << r["seq"];

        auto opened = opener.open(body_of(frame));
        ASSERT_TRUE(std::holds_alternative<OpenedRecord>(opened))
            << describe(std::get<RecordError>(opened));
        EXPECT_EQ(std::get<OpenedRecord>(opened).type, type);
        EXPECT_EQ(to_hex(std::get<OpenedRecord>(opened).data), r["data"].get<std::string>());
      }
    }
  }
  EXPECT_EQ(suites, kSuites);
}

// Every app record in the vectors is a message our layer parses and writes back byte for byte.
TEST(Vectors, AppRecordsAreMessagesWeSpeak) {
  std::size_t checked = 0;
  for (const auto& [id, s] : vectors("records.json")["suites"].items()) {
    for (const char* dir : {"c2s", "s2c"}) {
      for (const auto& r : s[dir]["records"]) {
        if (r["content_type_name"] != "app") continue;
        const std::string json = r["data_utf8"].get<std::string>();
        EXPECT_EQ(to_hex(as_bytes(json)), r["data"].get<std::string>());
        if (std::string(dir) == "c2s") {
          auto parsed = req::parse(json, req::Limits{});
          ASSERT_TRUE(std::holds_alternative<req::Request>(parsed)) << json;
          EXPECT_EQ(req::serialize(std::get<req::Request>(parsed)), json);
        } else {
          auto parsed = evt::parse(json);
          ASSERT_TRUE(std::holds_alternative<evt::Event>(parsed)) << json;
          EXPECT_EQ(evt::serialize(std::get<evt::Event>(parsed)), json);
        }
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 20u);
}

TEST(Vectors, CloseRecordData) {
  const auto& records = vectors("records.json")["suites"]["0x0001"]["s2c"]["records"];
  const auto& last = records.back();
  ASSERT_EQ(last["content_type_name"], "close");
  auto close = parse_close(hex(last["data"]));
  ASSERT_TRUE(close);
  EXPECT_EQ(close->code, StatusCode::normal);
  EXPECT_EQ(close->reason, "server shutting down");
  EXPECT_EQ(to_hex(encode_close(StatusCode::normal, "server shutting down")),
            last["data"].get<std::string>());
}

// ---- bad.json ----

ServerPolicy default_policy() {
  ServerPolicy p;
  for (const auto& name : vectors("bad.json")["defaults_assumed"]["server_suites"])
    p.suites.push_back(find_suite(name.get<std::string>())->id);
  p.min_client_rsa_bits = vectors("bad.json")["defaults_assumed"]["min_client_rsa_bits"];
  return p;
}

TEST(BadVectors, ServerRefusesEveryBadClientHello) {
  test::ScriptedRng identity_rng;
  ServerIdentity identity(test::vector_key("server_identity"), identity_rng);
  const ServerPolicy policy = default_policy();
  const std::size_t max_frame = vectors("bad.json")["defaults_assumed"]["handshake_max_frame"];
  std::size_t cases = 0;
  for (const auto& c : vectors("bad.json")["server"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    test::ScriptedRng rng;
    ServerHandshake server(identity, policy, rng);
    FrameDecoder decoder(max_frame);
    decoder.feed(hex(c["send"]));
    auto frame = decoder.next();
    if (c["expect"] == "close") {
      EXPECT_FALSE(frame);
      EXPECT_NE(decoder.error(), FrameError::none);
    } else {
      ASSERT_TRUE(frame);
      EXPECT_TRUE(server.precheck(*frame));
      auto step = server.on_frame(*frame);
      ASSERT_TRUE(step.failure);
      const auto code = static_cast<StatusCode>(c["expect"]["error"].get<int>());
      EXPECT_EQ(step.failure->code, code);
      EXPECT_EQ(name_of(code), c["expect"]["name"].get<std::string>());
      // The answer is exactly one Error frame carrying that code.
      FrameDecoder answer(max_frame);
      answer.feed(step.send);
      auto sent = answer.next();
      ASSERT_TRUE(sent);
      auto error = parse_error_frame(*sent);
      ASSERT_TRUE(error);
      EXPECT_EQ(error->code, code);
      EXPECT_EQ(answer.buffered(), 0u);
    }
    ++cases;
  }
  EXPECT_EQ(cases, vectors("bad.json")["server"].size());
  EXPECT_GE(cases, 39u);
}

// Each loop below counts its cases as the first one does: an empty or missing section of bad.json
// would otherwise pass without checking anything.
TEST(BadVectors, ClientAbortsOnEveryBadServerHello) {
  std::size_t cases = 0;
  for (const auto& c : vectors("bad.json")["client"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    test::ScriptedRng rng;
    ClientOptions options;
    if (c.contains("pin")) options.pinned_fingerprint = c["pin"].get<std::string>();
    ClientHandshake client = vector_client(rng, options);
    auto step = client.on_frame(hex(c["server_hello"]));
    // Some failures (the wrapped secret) only show once the user trusts the key.
    if (client.awaiting_trust()) step = client.trust_server();
    ASSERT_TRUE(step.failure);
    EXPECT_TRUE(step.send.empty()) << "nothing is sent after a bad ServerHello";
    EXPECT_FALSE(step.established);
    ++cases;
  }
  EXPECT_EQ(cases, vectors("bad.json")["client"].size());
  EXPECT_GE(cases, 14u);
}

RecordOpener receiver_for(const json& c) {
  const auto dir =
      c["direction"] == "c2s" ? Direction::client_to_server : Direction::server_to_client;
  return RecordOpener(dir, suite_of(c), secret_of(c["receiver"]["ts"]),
                      c["receiver"]["seq"].get<std::uint64_t>(),
                      c["receiver"]["epoch"].get<std::uint32_t>());
}

TEST(BadVectors, RecordsAreRefusedAndNothingAfter) {
  std::size_t cases = 0;
  for (const auto& c : vectors("bad.json")["records"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    ASSERT_EQ(c["expect"], "close");
    RecordOpener opener = receiver_for(c);
    FrameDecoder decoder(65536);
    decoder.feed(hex(c["frame"]));
    auto frame = decoder.next();
    ASSERT_TRUE(frame);
    EXPECT_TRUE(std::holds_alternative<RecordError>(opener.open(*frame)));
    EXPECT_EQ(std::get<RecordError>(opener.open(*frame)), RecordError::after_failure);
    ++cases;
  }
  EXPECT_EQ(cases, vectors("bad.json")["records"].size());
  EXPECT_GE(cases, 39u);
}

TEST(BadVectors, FinishedRecordsAreRefused) {
  std::size_t cases = 0;
  for (const auto& c : vectors("bad.json")["finished"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    RecordOpener opener = receiver_for(c);
    const Bytes frame = hex(c["frame"]);
    const Digest th = digest_of(c["th"]);
    if (c["direction"] == "c2s") {
      auto verdict = check_client_finished(opener, body_of(frame), th, default_policy());
      ASSERT_TRUE(verdict.failure);
      ASSERT_TRUE(c["expect"].is_object());
      EXPECT_TRUE(verdict.reply_close);
      EXPECT_EQ(static_cast<int>(verdict.failure->code), c["expect"]["close_record"].get<int>());
    } else {
      EXPECT_EQ(c["expect"], "abort");
      EXPECT_TRUE(check_server_finished(opener, body_of(frame), th));
    }
    ++cases;
  }
  EXPECT_EQ(cases, vectors("bad.json")["finished"].size());
  EXPECT_GE(cases, 24u);
}

}  // namespace
}  // namespace parley
