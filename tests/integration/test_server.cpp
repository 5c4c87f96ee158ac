// End-to-end scenarios against a real parleyd (PROTOCOL.md 2-4 and the daemon's operational
// interface: config, signals, logs). Each test runs its own server on an ephemeral port.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "parley/concat.hpp"
#include "test_support.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

// Joins and waits for the ack, so later steps see a settled membership.
void join(TestClient& c, const std::string& room, RequestId id) {
  ASSERT_TRUE(c.send(req::Join{room}, id));
  auto ack = c.expect<evt::Ack>();
  EXPECT_TRUE(ack.id == id) << "join ack for another id";
}

void set_nick(TestClient& c, const std::string& nick, RequestId id) {
  ASSERT_TRUE(c.send(req::Nick{nick}, id));
  auto ack = c.expect<evt::Ack>();
  EXPECT_TRUE(ack.id == id);
}

// --------------------------------------------------------------------------- 1. relay

TEST(Relay, ThreeClientsOneRoom) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 1000;
  cfg["limits"]["burst"] = 1000;
  ASSERT_TRUE(server.start(cfg));

  TestClient a, b, c;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  ASSERT_TRUE(c.open(server.port()));
  EXPECT_NE(a.nick(), b.nick());
  EXPECT_NE(b.nick(), c.nick());

  // Acks echo integer and string ids alike.
  join(a, "lobby", RequestId{std::int64_t{1}});
  join(b, "lobby", RequestId{std::string("join-b")});
  auto joined_b = a.expect<evt::Joined>();
  EXPECT_EQ(joined_b.room, "lobby");
  EXPECT_EQ(joined_b.nick, b.nick());
  join(c, "lobby", RequestId{std::int64_t{3}});
  for (TestClient* member : {&a, &b}) {
    auto joined_c = member->expect<evt::Joined>();
    EXPECT_EQ(joined_c.nick, c.nick());
  }
  // Joining again is acked and announces nothing (checked below: the next events are messages).
  join(a, "lobby", RequestId{std::int64_t{4}});

  // Interleaved without waiting: the server's room order is the only order there is.
  constexpr int kEach = 5;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(a.send(req::Say{"lobby", concat("a", std::to_string(i))}));
    ASSERT_TRUE(b.send(req::Say{"lobby", concat("b", std::to_string(i))}));
  }

  // C sees all ten, seq 1..10 in steps of one: that fixes the global order.
  std::map<std::uint64_t, std::pair<std::string, std::string>> order;  // seq -> (from, text)
  std::vector<std::string> from_a, from_b;
  for (int i = 0; i < 2 * kEach; ++i) {
    auto m = c.expect<evt::Message>();
    EXPECT_EQ(m.room, "lobby");
    EXPECT_EQ(m.seq, static_cast<std::uint64_t>(i + 1)) << "room seq must step by one from 1";
    EXPECT_FALSE(m.ts.empty());
    order[m.seq] = {m.from, m.text};
    (m.from == a.nick() ? from_a : from_b).push_back(m.text);
  }
  EXPECT_EQ(from_a, (std::vector<std::string>{"a0", "a1", "a2", "a3", "a4"}));
  EXPECT_EQ(from_b, (std::vector<std::string>{"b0", "b1", "b2", "b3", "b4"}));

  // A and B each get the other's five, never their own, in the same order as C.
  for (auto [receiver, other] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    std::uint64_t last = 0;
    for (int i = 0; i < kEach; ++i) {
      auto m = receiver->expect<evt::Message>();
      EXPECT_EQ(m.from, other->nick()) << "a sender must not get its own say back";
      EXPECT_GT(m.seq, last);
      last = m.seq;
      auto it = order.find(m.seq);
      ASSERT_NE(it, order.end()) << "seq " << m.seq << " unknown to another member";
      EXPECT_EQ(it->second.first, m.from);
      EXPECT_EQ(it->second.second, m.text) << "members disagree on the order at seq " << m.seq;
    }
  }

  // who / rooms echo their ids.
  ASSERT_TRUE(a.send(req::Who{"lobby"}, RequestId{std::string("w1")}));
  auto who = a.expect<evt::Who>();
  EXPECT_TRUE(who.id == RequestId{std::string("w1")});
  EXPECT_EQ(who.room, "lobby");
  EXPECT_EQ(std::set<std::string>(who.nicks.begin(), who.nicks.end()),
            (std::set<std::string>{a.nick(), b.nick(), c.nick()}));
  ASSERT_TRUE(a.send(req::Who{"nowhere"}, RequestId{std::int64_t{5}}));
  auto empty_who = a.expect<evt::Who>();
  EXPECT_TRUE(empty_who.nicks.empty()) << "who on a room that does not exist is empty";
  ASSERT_TRUE(a.send(req::Rooms{}, RequestId{std::int64_t{6}}));
  auto rooms = a.expect<evt::Rooms>();
  EXPECT_TRUE(rooms.id == RequestId{std::int64_t{6}});
  EXPECT_EQ(rooms.rooms, (std::vector<evt::RoomInfo>{{"lobby", 3}}));

  // part -> parted to the others; quit -> ack, close code 0, and quit (not parted) to the others.
  ASSERT_TRUE(b.send(req::Part{"lobby"}, RequestId{std::int64_t{7}}));
  EXPECT_TRUE(b.expect<evt::Ack>().id == RequestId{std::int64_t{7}});
  for (TestClient* member : {&a, &c}) {
    auto parted = member->expect<evt::Parted>();
    EXPECT_EQ(parted.room, "lobby");
    EXPECT_EQ(parted.nick, b.nick());
  }
  ASSERT_TRUE(c.send(req::Quit{"bye"}, RequestId{std::int64_t{8}}));
  EXPECT_TRUE(c.expect<evt::Ack>().id == RequestId{std::int64_t{8}});
  auto closed = c.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::normal) << closed;
  auto quit = a.expect<evt::Quit>();
  EXPECT_EQ(quit.nick, c.nick());
  a.expect_alive();
  b.expect_alive();
}

// --------------------------------------------------------------------------- 2. direct messages

// After 2 s of silence a session gives back its cipher objects (Session::trim_idle); traffic
// afterwards, in both directions and across a key update, must not notice.
// Idle sessions give back their cipher objects and buffers (the stats line counts them) and
// come back intact: records in both directions, a key update, new ciphers made on demand.
// PROTOCOL.md 6.2: a room's seq never goes back, across the room emptying and across a restart
// of the server on the same state directory (where the seq lease lives, next to the key).
TEST(Relay, RoomSeqNeverGoesBackAcrossARestart) {
  ServerProcess runs[2];
  const auto cfg = runs[0].default_config();  // both runs: the same key, so the same directory
  std::vector<std::uint64_t> seqs;
  for (auto& server : runs) {
    ASSERT_TRUE(server.start(cfg));
    for (int again = 0; again < 2; ++again) {  // the room empties between the two
      TestClient c;
      ASSERT_TRUE(c.open(server.port()));
      ASSERT_TRUE(c.send(req::Join{"history"}, RequestId{std::int64_t{1}}));
      c.expect<evt::Ack>();
      ASSERT_TRUE(c.send(req::Say{"history", "hello"}, RequestId{std::int64_t{2}}));
      const auto ack = c.expect<evt::Ack>();
      ASSERT_TRUE(ack.seq);
      seqs.push_back(*ack.seq);
    }
    server.signal(SIGTERM);
    EXPECT_EQ(server.wait_exit().code, 0);
  }
  ASSERT_EQ(seqs.size(), 4u);
  EXPECT_EQ(seqs[0], 1u);
  EXPECT_EQ(seqs[1], 2u);                      // the room came back within the run: on upwards
  EXPECT_GT(seqs[2], std::uint64_t{1} << 32);  // the next run's lease
  EXPECT_EQ(seqs[3], seqs[2] + 1);
  for (auto seq : seqs)
    EXPECT_LT(seq, std::uint64_t{1} << 53);  // an exact JSON number
}

TEST(Relay, IdleSessionsAreTrimmedAndWakeUpIntact) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["log"]["stats_interval_s"] = 1;
  ASSERT_TRUE(server.start(cfg));
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  join(a, "lobby", RequestId{1});
  join(b, "lobby", RequestId{2});
  a.expect<evt::Joined>();
  // Both sides trim after two looks two seconds apart with nothing sealed in between.
  auto trimmed = [&](std::uint64_t at_least) {
    return server.wait_for_log(
        [&](const nlohmann::json& j) {
          return j.value("event", "") == "stats" && j.value("idle_trims", 0u) >= at_least;
        },
        milliseconds(8000 * kSlowdown));
  };
  ASSERT_TRUE(trimmed(2)) << "the idle sessions were never trimmed";
  EXPECT_FALSE(a.next_event(0ms)) << "an idle session got something while trimmed";
  ASSERT_TRUE(a.send(req::Say{"lobby", "after the nap"}, RequestId{3}));
  a.expect<evt::Ack>();
  EXPECT_EQ(b.expect<evt::Message>().text, "after the nap");
  ASSERT_TRUE(b.send_key_update());
  ASSERT_TRUE(trimmed(4)) << "the sessions were not trimmed a second time";
  ASSERT_TRUE(b.send(req::Say{"lobby", "and back"}, RequestId{4}));
  b.expect<evt::Ack>();
  EXPECT_EQ(a.expect<evt::Message>().text, "and back");
  a.expect_alive();
  b.expect_alive();
}

TEST(Direct, ToNickAndToUnknownNick) {
  ServerProcess server;
  ASSERT_TRUE(server.start(server.default_config()));
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));

  ASSERT_TRUE(a.send(req::Msg{b.nick(), "psst"}, RequestId{std::int64_t{1}}));
  EXPECT_TRUE(a.expect<evt::Ack>().id == RequestId{std::int64_t{1}});
  auto direct = b.expect<evt::Direct>();
  EXPECT_EQ(direct.from, a.nick());
  EXPECT_EQ(direct.text, "psst");
  EXPECT_FALSE(direct.ts.empty());

  ASSERT_TRUE(a.send(req::Msg{"nobody-here", "hello?"}, RequestId{std::string("m2")}));
  a.expect_error(ErrorCode::no_such_nick, RequestId{std::string("m2")});
  a.expect_alive();
}

// --------------------------------------------------------------------------- 3. error codes

TEST(Errors, EveryRequestErrorKeepsTheSession) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_message_bytes"] = 1000;
  cfg["limits"]["rate"] = 1000;
  cfg["limits"]["burst"] = 1000;
  // In open mode too, a nick owned by a key in authorized_keys is reserved.
  cfg["auth"]["authorized_keys"] =
      server.dir().write("authorized_keys", client_identity_fingerprint() + " alice\n");
  ASSERT_TRUE(server.start(cfg));

  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  EXPECT_EQ(a.welcome().max_message_bytes, 1000u);

  // Not JSON at all: no id can be echoed.
  ASSERT_TRUE(a.send("this is not json"));
  a.expect_error(ErrorCode::bad_request, RequestId{});
  a.expect_alive();

  ASSERT_TRUE(a.send(R"({"type":"join","id":1})"));
  a.expect_error(ErrorCode::bad_request, RequestId{std::int64_t{1}});
  a.expect_alive();

  ASSERT_TRUE(a.send(R"({"type":"frobnicate","id":"u2"})"));
  a.expect_error(ErrorCode::unknown_type, RequestId{std::string("u2")});
  a.expect_alive();

  ASSERT_TRUE(a.send(req::Join{"bad room!"}, RequestId{std::int64_t{3}}));
  a.expect_error(ErrorCode::bad_name, RequestId{std::int64_t{3}});
  a.expect_alive();

  set_nick(a, "anna", RequestId{std::int64_t{4}});
  // Case-insensitive comparison: "ANNA" is taken too.
  ASSERT_TRUE(b.send(req::Nick{"ANNA"}, RequestId{std::int64_t{5}}));
  b.expect_error(ErrorCode::nick_taken, RequestId{std::int64_t{5}});
  b.expect_alive();

  ASSERT_TRUE(b.send(req::Nick{"alice"}, RequestId{std::int64_t{6}}));
  b.expect_error(ErrorCode::nick_reserved, RequestId{std::int64_t{6}});
  b.expect_alive();

  ASSERT_TRUE(a.send(req::Say{"lobby", "hi"}, RequestId{std::int64_t{7}}));
  a.expect_error(ErrorCode::not_member, RequestId{std::int64_t{7}});
  a.expect_alive();

  ASSERT_TRUE(a.send(req::Msg{"ghost", "boo"}, RequestId{std::int64_t{8}}));
  a.expect_error(ErrorCode::no_such_nick, RequestId{std::int64_t{8}});
  a.expect_alive();

  join(a, "lobby", RequestId{std::int64_t{9}});
  ASSERT_TRUE(a.send(req::Say{"lobby", std::string(1001, 'x')}, RequestId{std::int64_t{10}}));
  a.expect_error(ErrorCode::too_long, RequestId{std::int64_t{10}});
  a.expect_alive();
  // Exactly the limit, counted in UTF-8 bytes: 500 two-byte characters.
  std::string at_limit;
  for (int i = 0; i < 500; ++i)
    at_limit += "\xc3\xa9";
  ASSERT_TRUE(a.send(req::Say{"lobby", at_limit}, RequestId{std::int64_t{11}}));
  EXPECT_TRUE(a.expect<evt::Ack>().id == RequestId{std::int64_t{11}});
  a.expect_alive();
}

// --------------------------------------------------------------------------- 4. limits

TEST(Limits, MaxClientsRefusesTheNextHandshake) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_clients"] = 2;
  ASSERT_TRUE(server.start(cfg));
  TestClient a, b, c;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  ASSERT_TRUE(c.connect(server.port()));
  auto outcome = c.handshake();
  EXPECT_FALSE(outcome.established);
  ASSERT_TRUE(outcome.failure.has_value());
  EXPECT_EQ(outcome.failure->code, StatusCode::server_full) << outcome.what;
  EXPECT_TRUE(c.wait_eof());
  a.expect_alive();

  // A freed slot is usable again.
  a.disconnect();
  const auto deadline = Clock::now() + 5s;
  bool admitted = false;
  while (!admitted && Clock::now() < deadline) {
    TestClient d;
    ASSERT_TRUE(d.connect(server.port()));
    admitted = d.handshake().established;
    if (!admitted) std::this_thread::sleep_for(20ms);  // the server notices a's EOF on its own
  }
  EXPECT_TRUE(admitted);
}

TEST(Limits, OversizedFrameAfterWelcomeCloses) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_frame"] = 16384;
  ASSERT_TRUE(server.start(cfg));
  TestClient a;
  ASSERT_TRUE(a.open(server.port()));
  EXPECT_EQ(a.welcome().max_frame, 16384u);
  // Only the header and a little of the body: the server must judge the length at once.
  Bytes frame = {0x00, 0x00, 0x40, 0x01, 0xde, 0xad, 0xbe, 0xef};
  ASSERT_TRUE(a.send_raw(frame));
  auto closed = a.wait_closed();
  EXPECT_TRUE(closed.eof) << closed;
  EXPECT_FALSE(closed.close_record) << "a peer that reads an oversized length sends nothing more";
}

// No ClientHello, or half of one, by handshake_timeout_ms: an Error frame `timeout`, then EOF.
TEST(Limits, HandshakeTimeoutSilentOrPartialClient) {
  ServerProcess server;
  auto cfg = server.default_config();
  // The ClientHello has a short deadline of its own; the full one covers the rest.
  cfg["limits"]["hello_timeout_ms"] = 300 * kSlowdown;
  cfg["limits"]["handshake_timeout_ms"] = 2000 * kSlowdown;
  ASSERT_TRUE(server.start(cfg));
  TestClient silent, partial, no_finished;
  ASSERT_TRUE(silent.connect(server.port()));
  ASSERT_TRUE(partial.connect(server.port()));
  ASSERT_TRUE(no_finished.connect(server.port()));
  const auto start = Clock::now();
  const Bytes hello = partial.client_hello_frame();
  ASSERT_TRUE(partial.send_raw(ByteView(hello).first(hello.size() / 2)));
  ASSERT_FALSE(no_finished.handshake_until_finished().failure);
  for (TestClient* c : {&silent, &partial}) {
    auto error = c->read_error_frame(3s * kSlowdown);
    ASSERT_TRUE(error.has_value()) << "no Error frame after the ClientHello deadline";
    EXPECT_EQ(error->code, StatusCode::timeout) << error->reason;
    EXPECT_EQ(error->reason, "no ClientHello in time");
    EXPECT_TRUE(c->wait_eof(2s));
  }
  EXPECT_LT(Clock::now() - start, milliseconds(1500 * kSlowdown))
      << "the ClientHello deadline, not the handshake's, ended them";
  // Past its ClientHello, a client has the whole handshake deadline; then it is closed without
  // a word (an Error frame is plaintext, and the ServerHello has gone out).
  EXPECT_TRUE(no_finished.wait_eof(5s * kSlowdown));
  EXPECT_GE(Clock::now() - start, milliseconds(1900 * kSlowdown));
  std::size_t failed = 0;  // the log reader may be a line behind: wait for all three
  EXPECT_TRUE(server.wait_for_log([&](const nlohmann::json& j) {
    return j.value("event", "") == "handshake_failed" && ++failed == 3;
  })) << "not every handshake was logged as failed";
  EXPECT_EQ(server.events("session_open").size(), 3u);
  EXPECT_TRUE(server.events("session_close").empty());
}

TEST(Limits, IdlePingThenTimeoutUnlessAnswered) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["idle_interval_s"] = 2 * kSlowdown;
  cfg["limits"]["idle_timeout_s"] = 2 * kSlowdown;
  ASSERT_TRUE(server.start(cfg));
  TestClient silent, polite;
  ASSERT_TRUE(silent.open(server.port()));
  ASSERT_TRUE(polite.open(server.port()));
  polite.set_auto_pong(true);
  const auto start = Clock::now();

  // Both run at once, so the idle wait is paid once; short slices keep polite answering.
  bool pinged = false;
  std::optional<CloseOutcome> silent_closed;
  while (Clock::now() < start + milliseconds(4000 * kSlowdown + 1500)) {
    if (!silent_closed) {
      if (!pinged) {
        if (auto event = silent.next_event(50ms)) {
          pinged = std::holds_alternative<evt::Ping>(*event);
          EXPECT_TRUE(pinged) << "expected a ping, got " << evt::serialize(*event);
        } else if (silent.close_record() || silent.eof()) {
          silent_closed = silent.wait_closed(0ms);
        }
      } else {
        auto closed = silent.wait_closed(50ms);
        if (!closed.timed_out) silent_closed = closed;
      }
    }
    if (auto event = polite.next_event(50ms))
      ADD_FAILURE() << "unexpected event for the polite client: " << evt::serialize(*event);
    ASSERT_FALSE(polite.close_record() || polite.eof())
        << "a client answering pings was dropped after "
        << std::chrono::duration_cast<milliseconds>(Clock::now() - start).count() << " ms";
  }
  if (!silent_closed) silent_closed = silent.wait_closed(2s * kSlowdown);
  EXPECT_TRUE(pinged) << "the server never pinged an idle client";
  EXPECT_TRUE(silent_closed->close_record && silent_closed->code == StatusCode::timeout)
      << *silent_closed;
  polite.expect_alive();
}

// Over the burst, each request gets `rate_limited` with its id (never a pong after an error in
// one burst); a client that paces itself recovers, one that keeps going is closed with code 10
// after flood_strikes errors in a row.
TEST(Limits, RateLimitedThenRecoveredOrClosedForFlooding) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 2;
  cfg["limits"]["burst"] = 3;
  cfg["limits"]["flood_strikes"] = 5;
  ASSERT_TRUE(server.start(cfg));
  TestClient polite, flooder, witness;
  ASSERT_TRUE(polite.open(server.port()));
  ASSERT_TRUE(flooder.open(server.port()));
  ASSERT_TRUE(witness.open(server.port()));
  EXPECT_EQ(polite.welcome().burst, std::optional<std::uint64_t>(3));

  auto pings = [](std::int64_t n) {
    std::vector<req::Request> burst;
    for (std::int64_t id = 1; id <= n; ++id)
      burst.push_back(request(req::Ping{}, id));
    return burst;
  };
  // Five in one burst: three pongs, then two errors (two strikes, under the five that close).
  ASSERT_TRUE(polite.send_burst(pings(5)));
  int pongs = 0, limited = 0;
  for (std::int64_t id = 1; id <= 5; ++id) {
    auto event = polite.next_event();
    ASSERT_TRUE(event.has_value()) << "no reply to ping " << id;
    if (auto* pong = std::get_if<evt::Pong>(&*event)) {
      EXPECT_TRUE(pong->id == RequestId{id});
      EXPECT_EQ(limited, 0) << "a pong after a rate_limited error in one burst";
      ++pongs;
    } else if (auto* error = std::get_if<evt::Error>(&*event)) {
      EXPECT_EQ(error->code, ErrorCode::rate_limited);
      EXPECT_TRUE(error->id == RequestId{id}) << "rate_limited must echo the request id";
      ++limited;
    } else {
      ADD_FAILURE() << "unexpected " << evt::serialize(*event);
    }
  }
  EXPECT_EQ(pongs, 3);
  EXPECT_EQ(limited, 2);
  EXPECT_TRUE(server.wait_for_event("rate_limited", 1s).has_value());

  // Twenty in one burst: three pongs, four errors, and the fifth strike closes.
  ASSERT_TRUE(flooder.send_burst(pings(20)));
  pongs = limited = 0;
  while (auto event = flooder.next_event()) {
    if (std::holds_alternative<evt::Pong>(*event)) ++pongs;
    if (std::holds_alternative<evt::Error>(*event)) ++limited;
  }
  auto closed = flooder.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::policy) << closed;
  EXPECT_EQ(closed.reason, "flooding");
  EXPECT_EQ(pongs, 3);
  EXPECT_EQ(limited, 4);

  // The bucket refills at 2/s: a client that waits a token's time gets its pong (and its two
  // strikes are forgiven: no close however long it lives).
  std::this_thread::sleep_for(600ms);  // pacing, as a client must
  ASSERT_TRUE(polite.send(req::Ping{}, RequestId{100}));
  auto event = polite.next_event();
  ASSERT_TRUE(event.has_value());
  EXPECT_TRUE(std::holds_alternative<evt::Pong>(*event)) << evt::serialize(*event);
  witness.expect_alive();
}

TEST(Limits, AdmissionPerSourceRefusesBeforeTheHello) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["handshakes_per_source_per_s"] = 1;
  cfg["limits"]["handshake_burst_per_source"] = 2;
  ASSERT_TRUE(server.start(cfg));
  TestClient a, b, c;
  ASSERT_TRUE(a.connect(server.port()));
  ASSERT_TRUE(b.connect(server.port()));
  ASSERT_TRUE(c.connect(server.port()));
  // c sends nothing: the refusal comes without reading a ClientHello.
  auto error = c.read_error_frame(3s);
  ASSERT_TRUE(error.has_value()) << "the third connection was not refused";
  EXPECT_EQ(error->code, StatusCode::server_full);
  EXPECT_EQ(error->reason, "busy, retry later");
  EXPECT_TRUE(c.wait_eof(2s));
  EXPECT_TRUE(server.wait_for_event("admission_refused", 1s).has_value());
  // The two admitted connections complete normally.
  EXPECT_TRUE(a.handshake().established);
  EXPECT_TRUE(b.handshake().established);
}

// --------------------------------------------------------------------------- 5. auth keys

// Keys mode: who is refused, and how it is logged, is test_nobody_in.cpp (NobodyIn.*).

// --------------------------------------------------------------------------- 6. SIGHUP

// What a reload changes, checked by its effects rather than by its log line: the limits of new
// and existing sessions, and who gets in. What a failed reload keeps, likewise.
TEST(Signals, ReloadChangesLimitsAndKeysAndAFailedOneKeepsThem) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 1000;
  cfg["limits"]["burst"] = 1000;
  ASSERT_TRUE(server.start(cfg));
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));

  // Lower the rate: a newcomer is told the new values, and an existing session is held to them
  // (what it had saved is cut to the new burst).
  cfg["limits"]["rate"] = 1;
  cfg["limits"]["burst"] = 3;
  server.write_config(cfg);
  auto line = server.reload();
  EXPECT_EQ(line.value("ok", false), true) << line;
  TestClient newcomer;
  ASSERT_TRUE(newcomer.open(server.port()));
  EXPECT_EQ(newcomer.welcome().rate.value_or(0), 1.0);
  EXPECT_EQ(newcomer.welcome().burst.value_or(0), 3u);
  std::vector<req::Request> burst;
  for (std::int64_t id = 1; id <= 6; ++id)
    burst.push_back(request(req::Ping{}, id));
  ASSERT_TRUE(a.send_burst(burst));
  int pongs = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto event = a.next_event();
    ASSERT_TRUE(event);
    if (std::holds_alternative<evt::Pong>(*event)) ++pongs;
    if (auto* e = std::get_if<evt::Error>(&*event); e && e->code == ErrorCode::rate_limited)
      ++limited;
  }
  EXPECT_EQ(pongs, 3) << "an existing session kept the old burst";
  EXPECT_EQ(limited, 3);

  // Keys mode with a file that lists someone else: a key not listed is refused...
  TestClient keyed;
  HandshakeOptions with_key;
  with_key.identity = client_identity_key();
  const std::string keys_path =
      server.dir().write("authorized_keys", vector_server_fingerprint() + " someone\n");
  cfg["auth"] = {{"mode", "keys"}, {"authorized_keys", keys_path}};
  server.write_config(cfg);
  EXPECT_EQ(server.reload().value("ok", false), true);
  ASSERT_TRUE(keyed.connect(server.port()));
  auto refused = keyed.handshake(with_key);
  ASSERT_TRUE(refused.failure.has_value()) << "an unlisted key got in";
  EXPECT_EQ(refused.failure->code, StatusCode::auth_failed) << refused.what;
  keyed.disconnect();
  // ...until the file lists it and the server re-reads it.
  server.dir().write("authorized_keys", client_identity_fingerprint() + " carol\n");
  EXPECT_EQ(server.reload().value("ok", false), true);
  ASSERT_TRUE(keyed.open(server.port(), with_key)) << "a key added to authorized_keys";
  EXPECT_EQ(keyed.nick(), "carol");

  // A broken authorized_keys fails the reload, names the file, and the old list stays.
  server.dir().write("authorized_keys", "this is not a fingerprint\n");
  line = server.reload();
  EXPECT_EQ(line.value("ok", true), false) << line;
  EXPECT_NE(line.value("error", "").find("authorized_keys"), std::string::npos) << line;
  TestClient again;
  EXPECT_TRUE(again.open(server.port(), with_key)) << "a failed reload dropped the old keys";

  // So does a config file that is not JSON; the sessions are untouched throughout.
  server.write_config_text("{ \"listen\": [ this is not json");
  EXPECT_EQ(server.reload().value("ok", true), false);
  EXPECT_TRUE(server.running());
  b.expect_alive();
  keyed.expect_alive();
}

// What a welcome announced stays true for that session: a reload that lowers max_message_bytes
// applies to sessions that connect after it.
TEST(Signals, ReloadKeepsTheMessageSizeAWelcomeAnnounced) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_message_bytes"] = 4096;
  ASSERT_TRUE(server.start(cfg));
  TestClient before;
  ASSERT_TRUE(before.open(server.port()));
  join(before, "room", RequestId{1});
  cfg["limits"]["max_message_bytes"] = 100;
  server.write_config(cfg);
  EXPECT_EQ(server.reload().value("ok", false), true);
  TestClient after;
  ASSERT_TRUE(after.open(server.port()));
  EXPECT_EQ(after.welcome().max_message_bytes, 100u);

  const std::string text(200, 't');
  ASSERT_TRUE(before.send(req::Say{"room", text}, RequestId{2}));
  auto ack = before.wait_for<evt::Ack>();
  EXPECT_TRUE(ack && ack->id == RequestId{2}) << "the session's announced 4096 bytes were cut";
  ASSERT_TRUE(after.send(req::Say{"room", text}, RequestId{3}));
  after.expect_error(ErrorCode::too_long, RequestId{3});
}

// Lowering the idle limits never closes a healthy session: each gets its ping and the whole new
// timeout to answer. One that does not answer is still closed.
TEST(Signals, ReloadLoweringIdleLimitsKeepsHealthySessions) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["idle_interval_s"] = 3 * kSlowdown;
  cfg["limits"]["idle_timeout_s"] = 3 * kSlowdown;
  ASSERT_TRUE(server.start(cfg));
  std::vector<std::unique_ptr<TestClient>> healthy;
  for (int i = 0; i < 3; ++i) {
    healthy.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(healthy.back()->open(server.port()));
  }
  TestClient silent;
  ASSERT_TRUE(silent.open(server.port()));

  cfg["limits"]["idle_interval_s"] = 1;
  cfg["limits"]["idle_timeout_s"] = 1;
  server.write_config(cfg);
  EXPECT_EQ(server.reload().value("ok", false), true);

  // Answer pings (by hand, counting them) for long enough to see several under the new interval.
  std::vector<int> pings(healthy.size(), 0);
  const auto until = Clock::now() + milliseconds(3000 * kSlowdown + 3000);
  while (Clock::now() < until) {
    for (std::size_t i = 0; i < healthy.size(); ++i) {
      auto event = healthy[i]->next_event(20ms);
      if (event && std::holds_alternative<evt::Ping>(*event)) {
        ++pings[i];
        ASSERT_TRUE(healthy[i]->send(req::Pong{}));
      }
      ASSERT_FALSE(healthy[i]->close_record() || healthy[i]->eof())
          << "a healthy session was closed after the reload";
    }
  }
  for (std::size_t i = 0; i < healthy.size(); ++i)
    EXPECT_GE(pings[i], 2) << "session " << i << " was not pinged at the new interval";
  auto closed = silent.wait_closed(milliseconds(2000 * kSlowdown));
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::timeout) << closed;
  EXPECT_TRUE(server.wait_for_log([&](const nlohmann::json& j) {
    return j.value("event", "") == "session_close" && j.value("nick", "") == silent.nick();
  }));
  EXPECT_EQ(server.events("session_close").size(), 1u) << "only the silent session ends";
}

// --------------------------------------------------------------------------- 7. SIGTERM

TEST(Signals, TermClosesEverySessionAndExitsZero) {
  ServerProcess server;
  ASSERT_TRUE(server.start(server.default_config()));
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  join(a, "room", RequestId{std::int64_t{1}});
  a.expect_alive();
  b.expect_alive();

  server.signal(SIGTERM);
  for (TestClient* c : {&a, &b}) {
    auto closed = c->wait_closed();
    EXPECT_TRUE(closed.close_record) << closed;
    EXPECT_EQ(closed.code, StatusCode::normal) << closed;
    EXPECT_NE(closed.reason.find("shutting down"), std::string::npos) << closed;
  }
  auto status = server.wait_exit(5s);
  EXPECT_TRUE(status.clean()) << status;
}

// --------------------------------------------------------------------------- 8. --check-config

TEST(Config, CheckConfigNamesTheBadPath) {
  ServerProcess holder;  // only for its temp dir and a valid base config
  const auto good = holder.default_config();

  struct Case {
    std::string name;
    std::string text;
    std::string must_mention;  // empty: any message
  };
  auto with = [&](auto&& edit) {
    auto cfg = good;
    edit(cfg);
    return cfg.dump(2);
  };
  std::vector<Case> cases = {
      {"unknown_top", with([](auto& c) { c["bogus"] = 1; }), "bogus"},
      {"unknown_limit", with([](auto& c) { c["limits"]["max_clownz"] = 1; }), "limits.max_clownz"},
      {"wrong_type", with([](auto& c) { c["limits"]["max_clients"] = "many"; }),
       "limits.max_clients"},
      {"out_of_range", with([](auto& c) { c["limits"]["max_frame"] = 10; }), "limits.max_frame"},
      {"bad_suite", with([](auto& c) { c["suites"] = {"ROT13"}; }), "suites"},
      {"bad_auth_mode", with([](auto& c) { c["auth"]["mode"] = "maybe"; }), "auth.mode"},
      {"invalid_json", "{\"listen\": [", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto path = holder.dir().write(c.name + ".json", c.text);
    auto result = ServerProcess::run_check_config(path);
    EXPECT_EQ(result.exit_code, 78) << result.stderr_text;
    EXPECT_FALSE(result.stderr_text.empty());
    if (!c.must_mention.empty()) {
      EXPECT_NE(result.stderr_text.find(c.must_mention), std::string::npos)
          << "stderr does not name " << c.must_mention << ":\n"
          << result.stderr_text;
    }
  }
  {
    SCOPED_TRACE("missing_file");
    auto result = ServerProcess::run_check_config(holder.dir().file("does-not-exist.json"));
    EXPECT_EQ(result.exit_code, 78) << result.stderr_text;
    EXPECT_FALSE(result.stderr_text.empty());
  }
  {
    SCOPED_TRACE("good");
    const auto path = holder.dir().write("good.json", good.dump(2));
    auto result = ServerProcess::run_check_config(path);
    EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  }
}

// --------------------------------------------------------------------------- 9. every suite

class EverySuite : public ::testing::TestWithParam<SuiteId> {};

TEST_P(EverySuite, HandshakeAndRelay) {
  ServerProcess server;
  ASSERT_TRUE(server.start(server.default_config()));
  HandshakeOptions only;
  only.suites = {GetParam()};
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port(), only));
  ASSERT_TRUE(b.open(server.port(), only));
  EXPECT_EQ(a.welcome().suite, suite_info(GetParam()).name);
  join(a, "suite", RequestId{std::int64_t{1}});
  join(b, "suite", RequestId{std::int64_t{2}});
  (void)a.wait_for<evt::Joined>();
  // A key update each way mid-session must not disturb the flow.
  ASSERT_TRUE(a.send_key_update());
  ASSERT_TRUE(a.send(req::Say{"suite", "over " + std::string(suite_info(GetParam()).name)}));
  auto m = b.expect<evt::Message>();
  EXPECT_EQ(m.from, a.nick());
  EXPECT_EQ(m.text, "over " + std::string(suite_info(GetParam()).name));
  EXPECT_EQ(m.seq, 1u);
  b.expect_alive();
}

INSTANTIATE_TEST_SUITE_P(Suites, EverySuite, ::testing::ValuesIn(test::all_suite_ids()),
                         [](const auto& info) { return test::suite_test_name(info.param); });

}  // namespace
}  // namespace parley::it

namespace parley::it {
namespace {

// Runs parleyd with `args` to completion and returns its stdout (these modes exit at once).
std::string parleyd_stdout(const std::string& args) {
  std::string out;
  FILE* p = ::popen((std::string(PARLEY_PARLEYD_PATH) + " " + args + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(Limits, PendingHandshakeCapRefusesBeforeTheHello) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_pending_handshakes"] = 1;
  ASSERT_TRUE(server.start(cfg));
  TestClient holder, late;
  // In its handshake, past the ClientHello (so it cannot be evicted to make room).
  ASSERT_TRUE(holder.connect(server.port()));
  ASSERT_FALSE(holder.handshake_until_finished().failure);
  ASSERT_TRUE(late.connect(server.port()));
  auto error = late.read_error_frame(3s);
  ASSERT_TRUE(error.has_value()) << "the second handshake was not refused";
  EXPECT_EQ(error->code, StatusCode::server_full);
  EXPECT_EQ(error->reason, "busy, retry later");
  // The slot comes back once the first handshake is over.
  EXPECT_TRUE(holder.finish_handshake().established);
  TestClient again;
  ASSERT_TRUE(again.connect(server.port()));
  EXPECT_TRUE(again.handshake().established);
}

TEST(Identity, CreatedOnFirstStartPrivateAndPrintable) {
  ServerProcess server;
  auto cfg = server.default_config();
  const std::string key_dir = server.dir().file("state/parleyd");
  cfg["identity_key"] = key_dir + "/identity.pem";
  ASSERT_TRUE(server.start(cfg));
  auto listening = server.wait_for_event("listening", 2s);
  ASSERT_TRUE(listening.has_value());

  struct stat key_stat {
  }, dir_stat{};
  ASSERT_EQ(::stat((key_dir + "/identity.pem").c_str(), &key_stat), 0);
  ASSERT_EQ(::stat(key_dir.c_str(), &dir_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  EXPECT_EQ(dir_stat.st_mode & 0777, 0700u);

  const std::string fp = parleyd_stdout("--print-fingerprint --config " + server.config_path());
  EXPECT_EQ(fp, (*listening)["fingerprint"].get<std::string>() + "\n");
  // A client pinning that fingerprint gets in.
  TestClient c;
  ASSERT_TRUE(c.connect(server.port()));
  HandshakeOptions options;
  options.pinned = (*listening)["fingerprint"].get<std::string>();
  EXPECT_TRUE(c.handshake(options).established);

  const auto printed =
      nlohmann::json::parse(parleyd_stdout("--print-config --config " + server.config_path()));
  EXPECT_EQ(printed["identity_key"], cfg["identity_key"]);
  EXPECT_EQ(printed["limits"]["max_clients"], 10000);  // defaults filled in
}

TEST(Logs, PeriodicStatsLine) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["log"]["stats_interval_s"] = 1;
  ASSERT_TRUE(server.start(cfg));
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  join(a, "stats", RequestId{std::int64_t{1}});
  auto stats = server.wait_for_log(
      [](const nlohmann::json& j) {
        return j.value("event", "") == "stats" && j.value("sessions", 0) == 2;
      },
      3s);
  ASSERT_TRUE(stats.has_value()) << "no stats line with 2 sessions";
  EXPECT_EQ((*stats)["rooms"], 1);
  for (const char* field :
       {"handshakes_pending", "messages_per_s", "bytes_in_per_s", "bytes_out_per_s"})
    EXPECT_TRUE(stats->contains(field)) << field;
}

TEST(Limits, OutOfDescriptorsBacksOffAndRecovers) {
#ifdef PARLEY_SANITIZED
  // UBSan's vptr check probes memory through a pipe(): with the process out of
  // descriptors the probe fails and UBSan reports valid objects as invalid. The
  // normal build runs this test.
  GTEST_SKIP() << "needs a server without sanitizers (they need descriptors themselves)";
#endif
  ServerProcess server;
  // Room for stdio, the event loop, the listener and a few sessions only.
  server.set_nofile_limit(32);
  auto cfg = server.default_config();
  cfg["limits"]["max_pending_per_source"] = 100;  // every connection of the crowd is accepted
  ASSERT_TRUE(server.start(cfg));
  auto limit = server.wait_for_event("nofile_limit", 2s);
  ASSERT_TRUE(limit.has_value());
  EXPECT_EQ((*limit)["sufficient"], false) << "max_clients 10000 cannot fit in 32 descriptors";

  // More connections than the server has descriptors for: accept fails with EMFILE.
  std::vector<std::unique_ptr<TestClient>> crowd;
  for (int i = 0; i < 48; ++i) {
    crowd.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(crowd.back()->connect(server.port()));  // the kernel's backlog accepts them
  }
  auto backoff = server.wait_for_event("accept_error", 3s);
  ASSERT_TRUE(backoff.has_value()) << "no accept_error logged";
  EXPECT_GT((*backoff)["backoff_ms"].get<int>(), 0) << "EMFILE must pause the accept loop";

  // Once descriptors are free again the server serves new clients.
  crowd.clear();
  // The server works through the closed connections left in its backlog first.
  const auto deadline = Clock::now() + 20s;
  bool served = false;
  while (!served && Clock::now() < deadline) {
    TestClient c;
    served = c.connect(server.port()) && c.handshake().established;
  }
  EXPECT_TRUE(served);
}

}  // namespace
}  // namespace parley::it
