// How an established session ends, every path: seen by the peer, by the others in its room, and
// in the log. Each ending is one value decided once (server/ending.hpp); these tests pin what
// each path decides.
#include <signal.h>

#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

// A server with `subject` (whose ending each test provokes) and `witness` in room "hall".
class Endings : public ::testing::Test {
 protected:
  void start(nlohmann::json config) {
    ASSERT_TRUE(server.start(config));
    ASSERT_TRUE(subject.open(server.port()));
    ASSERT_TRUE(witness.open(server.port()));
    join(subject, 1);
    join(witness, 2);
    (void)subject.wait_for<evt::Joined>(
        [&](const evt::Joined& j) { return j.nick == witness.nick(); });
  }
  void start() { start(server.default_config()); }

  static void join(TestClient& c, std::int64_t id) {
    ASSERT_TRUE(c.send(req::Join{"hall"}, RequestId{id}));
    (void)c.wait_for<evt::Ack>();
  }

  // The witness is told that the subject quit, with this reason.
  void expect_quit(std::string_view reason) {
    auto quit =
        witness.wait_for<evt::Quit>([&](const evt::Quit& q) { return q.nick == subject.nick(); });
    ASSERT_TRUE(quit) << "the witness never heard that " << subject.nick() << " left";
    EXPECT_EQ(quit->reason.value_or(""), reason);
  }

  // The subject's session_close line.
  nlohmann::json close_line(milliseconds timeout = kDefaultTimeout) {
    auto line = server.wait_for_log(
        [&](const nlohmann::json& j) {
          return j.value("event", "") == "session_close" && j.value("nick", "") == subject.nick();
        },
        timeout);
    if (!line) {
      ADD_FAILURE() << "no session_close for " << subject.nick();
      return nlohmann::json::object();
    }
    return *line;
  }

  ServerProcess server;
  TestClient subject, witness;
};

TEST_F(Endings, QuitIsAnsweredWithCloseNormal) {
  start();
  ASSERT_TRUE(subject.send(req::Quit{"gone fishing"}, RequestId{3}));
  auto closed = subject.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::normal && closed.eof) << closed;
  expect_quit("gone fishing");
  const auto line = close_line();
  EXPECT_EQ(line.value("code", ""), "normal");
  EXPECT_EQ(line.value("reason", ""), "bye");
  witness.expect_alive();
}

TEST_F(Endings, CloseRecordFromTheClient) {
  start();
  ASSERT_TRUE(subject.send_close(StatusCode::normal, "see you"));
  EXPECT_TRUE(subject.wait_eof()) << "the server kept the stream open after the client's close";
  EXPECT_FALSE(subject.close_record().has_value()) << "a close record answered a close record";
  expect_quit("connection closed");
  const auto line = close_line();
  EXPECT_EQ(line.value("code", ""), "normal");
  EXPECT_EQ(line.value("reason", ""), "see you");
}

TEST_F(Endings, TamperedRecordEndsTheSessionWithoutAWord) {
  start();
  Bytes record = subject.seal(ContentType::app,
                              as_bytes(req::serialize(request(req::Say{"hall", "forged"}, 4))));
  record.back() ^= 0x01;  // the tag no longer matches
  ASSERT_TRUE(subject.send_raw(record));
  EXPECT_TRUE(subject.wait_eof());
  EXPECT_FALSE(subject.close_record().has_value());
  expect_quit("connection lost");
  const auto line = close_line();
  EXPECT_EQ(line.value("code", ""), "none");
  EXPECT_EQ(line.value("reason", ""), describe(RecordError::bad_record));
  EXPECT_EQ(witness.skipped(), 0u) << "the witness got something before the quit";
}

TEST_F(Endings, ReplayedRecordEndsTheSessionWithoutAWord) {
  start();
  const Bytes record = subject.seal(ContentType::app,
                                    as_bytes(req::serialize(request(req::Say{"hall", "once"}, 4))));
  ASSERT_TRUE(subject.send_raw(record));
  auto first = witness.wait_for<evt::Message>();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->text, "once");
  ASSERT_TRUE(subject.send_raw(record));  // the same bytes again: the sequence number is old
  EXPECT_TRUE(subject.wait_eof());
  expect_quit("connection lost");
  EXPECT_EQ(witness.skipped(), 0u) << "the replayed message was relayed";
  EXPECT_EQ(close_line().value("code", ""), "none");
}

// A flood still unread when the server closes, from a client that is not reading either: its
// replies fill the client's window, so the close record waits in the server's send queue. A
// close with unread input would answer with a reset and drop that queue; the client must still
// get code 10.
TEST_F(Endings, FloodWithUnreadInputStillGetsItsCloseRecord) {
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 5;
  cfg["limits"]["burst"] = 5;
  cfg["limits"]["flood_strikes"] = 300;  // 300 rate_limited errors: about 30 KB of replies
  ASSERT_TRUE(server.start(cfg));
  TestClient flooder;
  ASSERT_TRUE(flooder.open(server.port(), {}, ConnectOptions{4096}));
  std::vector<req::Request> flood;
  for (std::int64_t id = 1; id <= 1000; ++id)  // about 60 KB: far more than the server reads
    flood.push_back(request(req::Ping{}, id));
  ASSERT_TRUE(flooder.send_burst(flood));
  ASSERT_TRUE(server.wait_for_log([](const nlohmann::json& j) {
    return j.value("event", "") == "session_close" && j.value("reason", "") == "flooding";
  }));
  std::this_thread::sleep_for(200ms);  // the server's close (or reset) is on its way
  auto closed = flooder.wait_closed();
  EXPECT_TRUE(closed.close_record) << "the close record was lost: " << closed;
  EXPECT_EQ(closed.code, StatusCode::policy) << closed;
  EXPECT_EQ(closed.reason, "flooding");
}

// Key updates cost the server a key derivation each: they count against the rate like requests.
TEST_F(Endings, KeyUpdatesCountAgainstTheRate) {
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 1;
  cfg["limits"]["burst"] = 3;
  cfg["limits"]["flood_strikes"] = 5;
  start(cfg);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(subject.send_key_update());
  auto closed = subject.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::policy) << closed;
  EXPECT_EQ(closed.reason, "flooding");
  EXPECT_EQ(close_line().value("reason", ""), "flooding");
}

TEST_F(Endings, PeerResetIsConnectionLost) {
  start();
  subject.reset_connection();
  expect_quit("connection lost");
  const auto line = close_line();
  EXPECT_EQ(line.value("code", ""), "none");
  EXPECT_EQ(line.value("reason", ""), "connection lost");
  witness.expect_alive();
}

TEST_F(Endings, InternalErrorEndsThatSessionOnly) {
  // The test transport throws from a read once 12,000 bytes have arrived on a connection; only
  // the subject sends that much.
  server.set_binary(PARLEY_TEST_TRANSPORTS_PATH);
  server.set_env("PARLEY_TEST_TRANSPORT", "fault-after:12000");
  start();
  const std::string big(4000, 'x');
  for (std::int64_t id = 10; id < 14; ++id)
    ASSERT_TRUE(subject.send(req::Say{"hall", big}, RequestId{id}));
  EXPECT_TRUE(subject.wait_eof());
  expect_quit("connection lost");
  auto error = server.wait_for_event("internal_error");
  ASSERT_TRUE(error);
  EXPECT_NE(error->value("what", "").find("injected fault"), std::string::npos) << *error;
  EXPECT_EQ(close_line().value("reason", ""), "internal error");
  // The loop goes on: the witness talks, and a newcomer gets in.
  witness.expect_alive();
  TestClient newcomer;
  ASSERT_TRUE(newcomer.open(server.port()));
  newcomer.expect_alive();
  EXPECT_TRUE(server.running());
}

TEST_F(Endings, ShutdownSaysSoAndEndsHandshakesToo) {
  start();
  TestClient halfway;  // connected, half a ClientHello sent: in its handshake at SIGTERM
  ASSERT_TRUE(halfway.connect(server.port()));
  const Bytes hello = halfway.client_hello_frame();
  ASSERT_TRUE(halfway.send_raw(ByteView(hello).first(hello.size() / 2)));
  ASSERT_TRUE(server.wait_for_event("session_open", kDefaultTimeout, 0).has_value());
  const auto mark = server.log_mark();
  server.signal(SIGTERM);
  // Lame duck (6.7): first when to come back (one session: within the minimum spread, 1 s),
  // then the close record.
  const auto goaway = subject.wait_for<evt::GoAway>();
  ASSERT_TRUE(goaway);
  EXPECT_EQ(goaway->reason, "server shutting down");
  EXPECT_LT(goaway->reconnect_after_ms, 1000u);
  auto closed = subject.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::normal) << closed;
  EXPECT_EQ(closed.reason, "server shutting down");
  EXPECT_TRUE(halfway.wait_eof());
  auto failed = server.wait_for_log(
      [](const nlohmann::json& j) {
        return j.value("event", "") == "handshake_failed" &&
               j.value("reason", "") == "server shutting down";
      },
      kDefaultTimeout, mark);
  EXPECT_TRUE(failed.has_value()) << "the handshake cut short by SIGTERM was not logged";
  EXPECT_TRUE(server.wait_exit().clean());
}

}  // namespace
}  // namespace parley::it
