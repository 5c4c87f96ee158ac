// The client's ClientChannel as pure code: records sealed here as a server would seal them go in,
// and what the channel makes of them comes out. No sockets, no handshake: both ends start from
// one traffic secret, the server's sealer already past its finished record.
#include <gtest/gtest.h>

#include <string>

#include "channel.hpp"
#include "parley/concat.hpp"
#include "parley/frame.hpp"

namespace parley::client {
namespace {

using namespace std::string_literals;

const std::string kWelcome =
    R"({"type":"welcome","session":"s1","nick":"guest-1","server":"parleyd",)"
    R"("max_frame":65536,"max_message_bytes":4096,"suite":"AES-256-GCM","rate":10,"burst":20})";

// The server's end of one session: seals records for the channel under test.
class FakeServerEnd {
 public:
  FakeServerEnd() : sealer_(suite(), secret()) {
    Bytes finished;  // s2c record #0; the channel starts after it
    sealer_.seal(ContentType::finished, Digest{}, finished);
  }

  static const SuiteInfo& suite() { return suite_info(SuiteId::aes_256_gcm); }
  static Secret secret() { return Secret(kSecretSize, 0x5A); }

  // A channel as the handshake leaves it: s2c record #0 (finished) already seen.
  static ClientChannel channel() {
    return ClientChannel(Established{RecordSealer(suite(), Secret(kSecretSize, 0xC2)),
                                     RecordOpener(Direction::server_to_client, suite(), secret(),
                                                  /*seq=*/1),
                                     Digest{},
                                     "SHA256:test",
                                     {},
                                     {}});
  }

  // One app record's frame body (the channel gets bodies, the header already read).
  Bytes app(std::string_view json) { return seal(ContentType::app, as_bytes(json)); }
  Bytes close(StatusCode code, std::string_view reason) {
    return seal(ContentType::close, encode_close(code, reason));
  }

 private:
  Bytes seal(ContentType type, ByteView data) {
    Bytes frame;
    sealer_.seal(type, data, frame);
    return Bytes(frame.begin() + kFrameHeaderSize, frame.end());
  }

  RecordSealer sealer_;
};

template <class T>
const T* received_as(const std::optional<Received>& received) {
  return received ? std::get_if<T>(&*received) : nullptr;
}

std::string violation_of(const std::optional<Received>& received) {
  const auto* violation = received_as<ProtocolViolation>(received);
  return violation ? violation->what : "(no violation)";
}

TEST(ClientChannel, SkipsEventsOfUnknownTypeAndStaysUsable) {
  FakeServerEnd server;
  ClientChannel channel = FakeServerEnd::channel();
  ASSERT_TRUE(received_as<ReceivedEvent>(channel.on_frame(server.app(kWelcome))));
  // Events a later server may send, and ones nobody has thought of yet.
  for (const char* later : {R"({"type":"shout","text":"maintenance at 10"})",
                            R"({"type":"member_count","room":"r","more":false})",
                            R"({"type":"x-future","data":{"a":[1,2]}})"}) {
    const auto received = channel.on_frame(server.app(later));
    EXPECT_FALSE(received) << later << " -> " << violation_of(received);
  }
  // The session goes on: the next known event comes through.
  const auto joined = channel.on_frame(server.app(R"({"type":"joined","room":"r","nick":"n"})"));
  const auto* event = received_as<ReceivedEvent>(joined);
  ASSERT_TRUE(event) << violation_of(joined);
  EXPECT_EQ(event->event, (evt::Event{evt::Joined{"r", "n"}}));
}

TEST(ClientChannel, UnknownErrorCodeArrivesAsAnError) {
  FakeServerEnd server;
  ClientChannel channel = FakeServerEnd::channel();
  ASSERT_TRUE(received_as<ReceivedEvent>(channel.on_frame(server.app(kWelcome))));
  const auto received = channel.on_frame(
      server.app(R"({"type":"error","code":"a_code_from_later","message":"cut off","id":3})"));
  const auto* event = received_as<ReceivedEvent>(received);
  ASSERT_TRUE(event) << violation_of(received);
  const auto* error = std::get_if<evt::Error>(&event->event);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->unknown_code, "a_code_from_later");
  EXPECT_EQ(error->id, RequestId{std::int64_t{3}});
}

TEST(ClientChannel, TheFirstEventMustStillBeAWelcome) {
  FakeServerEnd server;
  ClientChannel channel = FakeServerEnd::channel();
  EXPECT_EQ(
      violation_of(channel.on_frame(server.app(R"({"type":"joined","room":"r","nick":"n"})"))),
      "the server's first event is not a welcome");
}

TEST(ClientChannel, MalformedKnownEventsAreStillViolations) {
  FakeServerEnd server;
  ClientChannel channel = FakeServerEnd::channel();
  ASSERT_TRUE(received_as<ReceivedEvent>(channel.on_frame(server.app(kWelcome))));
  EXPECT_NE(
      violation_of(channel.on_frame(server.app(R"({"type":"joined","room":"r"})"))).find("nick"),
      std::string::npos);
}

std::string welcome_with(std::string_view field, std::uint64_t value) {
  std::string json = kWelcome;
  const std::string key = concat("\"", field, "\":");
  const auto at = json.find(key) + key.size();
  json.replace(at, json.find(',', at) - at, std::to_string(value));
  return json;
}

// A welcome is as far as a hostile server gets with an absurd max_frame: refused before the
// client would buffer a single frame that large (one 300 MB frame took it to 627 MB).
TEST(ClientChannel, RefusesAWelcomeWithLimitsNoServerMayAnnounce) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {welcome_with("max_frame", 4294967295), "max_frame 4294967295"},
      {welcome_with("max_frame", kMaxConfigurableFrame + 1), "max_frame 16777217"},
      {welcome_with("max_message_bytes", 65537), "max_message_bytes 65537"},
  };
  for (const auto& [json, mention] : refused) {
    FakeServerEnd server;
    ClientChannel channel = FakeServerEnd::channel();
    const std::string what = violation_of(channel.on_frame(server.app(json)));
    EXPECT_NE(what.find(mention), std::string::npos) << json << " -> " << what;
    EXPECT_FALSE(channel.welcome());
  }
  // The largest a server may be configured with is fine, and so is the whole frame for text.
  for (const std::string& json : {welcome_with("max_frame", kMaxConfigurableFrame),
                                  welcome_with("max_message_bytes", 65536)}) {
    FakeServerEnd server;
    ClientChannel channel = FakeServerEnd::channel();
    const auto received = channel.on_frame(server.app(json));
    EXPECT_TRUE(received_as<ReceivedEvent>(received)) << json << " -> " << violation_of(received);
  }
}

// A record that fails authentication (one bit flipped in transit) is a violation, and the
// channel accepts nothing after it, not even the honest record that follows.
TEST(ClientChannel, ATamperedRecordIsAViolationAndTheEnd) {
  FakeServerEnd server;
  ClientChannel channel = FakeServerEnd::channel();
  ASSERT_TRUE(received_as<ReceivedEvent>(channel.on_frame(server.app(kWelcome))));
  Bytes tampered = server.app(R"({"type":"joined","room":"r","nick":"n"})");
  tampered[tampered.size() / 2] ^= 0x01;
  EXPECT_NE(violation_of(channel.on_frame(tampered)).find("bad record"), std::string::npos);
  EXPECT_EQ(violation_of(channel.on_frame(server.app(R"({"type":"ping"})"))),
            "input after a protocol violation");
}

// Pings reach the caller (Connection answers them); a close record ends the session with the
// server's code and reason.
TEST(ClientChannel, PingsComeThroughAndACloseEndsTheSession) {
  FakeServerEnd server;
  ClientChannel channel = FakeServerEnd::channel();
  ASSERT_TRUE(received_as<ReceivedEvent>(channel.on_frame(server.app(kWelcome))));
  const auto ping = channel.on_frame(server.app(R"({"type":"ping"})"));
  const auto* event = received_as<ReceivedEvent>(ping);
  ASSERT_TRUE(event) << violation_of(ping);
  EXPECT_TRUE(std::holds_alternative<evt::Ping>(event->event));
  const auto closed = channel.on_frame(server.close(StatusCode::kicked, "enough"));
  const auto* close = received_as<SessionClosed>(closed);
  ASSERT_TRUE(close) << violation_of(closed);
  EXPECT_EQ(close->close.code, StatusCode::kicked);
  EXPECT_EQ(close->close.reason, "enough");
}

}  // namespace
}  // namespace parley::client
