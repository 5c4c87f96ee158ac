// Room history against the real parleyd (PROTOCOL.md 6.3, 6.4): what a member is replayed, who
// may ask, how a long history reaches a slow reader, what survives the room emptying, and what a
// reload changes.

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

// A config whose clients may send as fast as the test needs.
nlohmann::json fast_config(ServerProcess& server) {
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 100000;
  cfg["limits"]["burst"] = 100000;
  return cfg;
}

std::uint64_t join(TestClient& c, const std::string& room) {
  EXPECT_TRUE(c.send(req::Join{room}, RequestId{std::int64_t{-1}}));
  const auto ack =
      c.wait_for<evt::Ack>([](const evt::Ack& a) { return a.id == RequestId{std::int64_t{-1}}; });
  EXPECT_TRUE(ack && ack->seq) << c.nick() << " joining " << room;
  return ack && ack->seq ? *ack->seq : 0;
}

// Says `text` and returns the seq its ack carries.
std::uint64_t say(TestClient& c, const std::string& room, const std::string& text,
                  bool action = false) {
  EXPECT_TRUE(c.send(req::Say{room, text, action}, RequestId{std::int64_t{-2}}));
  const auto ack =
      c.wait_for<evt::Ack>([](const evt::Ack& a) { return a.id == RequestId{std::int64_t{-2}}; });
  EXPECT_TRUE(ack && ack->seq) << c.nick() << " saying in " << room;
  return ack && ack->seq ? *ack->seq : 0;
}

struct Reply {
  std::vector<evt::Message> messages;
  evt::HistoryEnd end;
};

// Reads one history reply: replayed messages up to its history_end (anything else in between
// fails the test).
Reply read_reply(TestClient& c) {
  Reply reply;
  for (;;) {
    auto event = c.next_event();
    if (!event) {
      ADD_FAILURE() << c.nick() << ": no history_end";
      return reply;
    }
    if (auto* end = std::get_if<evt::HistoryEnd>(&*event)) {
      reply.end = *end;
      return reply;
    }
    auto* message = std::get_if<evt::Message>(&*event);
    if (!message) {
      ADD_FAILURE() << c.nick() << ": in a history reply: " << evt::serialize(*event);
      continue;
    }
    EXPECT_TRUE(message->replay) << evt::serialize(*event);
    reply.messages.push_back(*message);
  }
}

Reply ask(TestClient& c, req::History history, std::int64_t id = 7) {
  EXPECT_TRUE(c.send(std::move(history), RequestId{id}));
  Reply reply = read_reply(c);
  EXPECT_EQ(reply.end.id, RequestId{id});
  return reply;
}

std::vector<std::uint64_t> seqs_of(const std::vector<evt::Message>& messages) {
  std::vector<std::uint64_t> out;
  for (const auto& m : messages)
    out.push_back(m.seq);
  return out;
}

// A server with fast_config() and two clients on it, alice and bob.
class HistoryTest : public testing::Test {
 protected:
  void SetUp() override {
    cfg_ = fast_config(server_);
    ASSERT_TRUE(server_.start(cfg_));
    ASSERT_TRUE(alice_.open(server_.port()));
    ASSERT_TRUE(bob_.open(server_.port()));
  }

  ServerProcess server_;
  nlohmann::json cfg_;
  TestClient alice_, bob_;
};

TEST_F(HistoryTest, AMemberIsReplayedEarlierMessagesWithTheirSeqs) {
  for (const char* feature : {"history", "action"}) {
    const auto& features = bob_.welcome().features;
    EXPECT_NE(std::find(features.begin(), features.end(), feature), features.end()) << feature;
  }
  join(alice_, "lobby");
  const std::uint64_t first = say(alice_, "lobby", "hello");
  const std::uint64_t second = say(alice_, "lobby", "waves", /*action=*/true);
  ASSERT_TRUE(alice_.send(req::Msg{bob_.nick(), "a secret"}));  // direct: never stored
  ASSERT_TRUE(bob_.wait_for<evt::Direct>());
  EXPECT_EQ(join(bob_, "lobby"), second);

  const Reply reply = ask(bob_, req::History{"lobby"});
  ASSERT_EQ(reply.messages.size(), 2u);
  EXPECT_EQ(reply.messages[0].seq, first);
  EXPECT_EQ(reply.messages[0].text, "hello");
  EXPECT_EQ(reply.messages[0].from, alice_.nick());
  EXPECT_FALSE(reply.messages[0].action);
  EXPECT_EQ(reply.messages[1].seq, second);
  EXPECT_TRUE(reply.messages[1].action);
  EXPECT_EQ(reply.messages[1].ts.size(), std::string("2024-05-01T12:00:00.123Z").size());
  EXPECT_EQ(reply.end, (evt::HistoryEnd{"lobby", false, true, RequestId{std::int64_t{7}}}));

  // From a seq on, and within a limit.
  const Reply tail = ask(bob_, req::History{"lobby", first, 1});
  EXPECT_EQ(seqs_of(tail.messages), std::vector<std::uint64_t>{second});
  EXPECT_FALSE(tail.end.more);
  const Reply head = ask(bob_, req::History{"lobby", 0, 1});
  EXPECT_EQ(seqs_of(head.messages), std::vector<std::uint64_t>{first});
  EXPECT_TRUE(head.end.more);
}

TEST_F(HistoryTest, NonMembersAndMalformedRequestsAreRefused) {
  join(alice_, "lobby");
  say(alice_, "lobby", "members only");

  ASSERT_TRUE(bob_.send(req::History{"lobby"}, RequestId{std::int64_t{1}}));
  bob_.expect_error(ErrorCode::not_member, RequestId{std::int64_t{1}});
  ASSERT_TRUE(bob_.send(req::History{"nowhere"}, RequestId{std::int64_t{2}}));
  bob_.expect_error(ErrorCode::not_member, RequestId{std::int64_t{2}});

  std::int64_t id = 10;
  for (const char* bad : {R"({"type":"history","room":"lobby","after":-1,"id":10})",
                          R"({"type":"history","room":"lobby","after":"3","id":11})",
                          R"({"type":"history","room":"lobby","limit":0,"id":12})",
                          R"({"type":"history","room":"lobby","limit":2.5,"id":13})"}) {
    ASSERT_TRUE(alice_.send(bad));
    alice_.expect_error(ErrorCode::bad_request, RequestId{id++});
  }
  alice_.expect_alive();
}

TEST_F(HistoryTest, AnEmptiedRoomKeepsItsHistoryAndGoesOnFromItsSeq) {
  join(alice_, "quiet");
  say(alice_, "quiet", "one");
  const std::uint64_t last = say(alice_, "quiet", "two");
  ASSERT_TRUE(alice_.send(req::Part{"quiet"}, RequestId{std::int64_t{3}}));
  (void)alice_.wait_for<evt::Ack>();
  // Meanwhile another room takes seqs beyond the quiet room's.
  join(bob_, "busy");
  for (int i = 0; i < 5; ++i)
    say(bob_, "busy", "x");

  EXPECT_EQ(join(bob_, "quiet"), last) << "the room goes on where it was";
  const Reply reply = ask(bob_, req::History{"quiet"});
  ASSERT_EQ(reply.messages.size(), 2u);
  EXPECT_EQ(reply.messages[1].text, "two");
  EXPECT_EQ(reply.messages[1].seq, last);
  EXPECT_EQ(say(bob_, "quiet", "three"), last + 1) << "one more than the last: nothing skipped";
}

// 6.4: every replay event of a request comes before any live message of the room accepted after
// it. Bob's direct to alice is handled after his history request (one session's records are
// handled in order), and alice speaks only once she has it.
TEST_F(HistoryTest, TheReplayComesBeforeLaterLiveMessages) {
  join(alice_, "lobby");
  for (int i = 0; i < 50; ++i)
    say(alice_, "lobby", "old " + std::to_string(i));
  join(bob_, "lobby");

  ASSERT_TRUE(bob_.send_burst({request(req::History{"lobby", 0, 100}, std::int64_t{1}),
                               request(req::Msg{alice_.nick(), "go"})}));
  ASSERT_TRUE(alice_.wait_for<evt::Direct>());
  const std::uint64_t live = say(alice_, "lobby", "new");

  const Reply reply = read_reply(bob_);
  EXPECT_EQ(reply.messages.size(), 50u);
  EXPECT_FALSE(reply.end.more);
  const auto next = bob_.expect<evt::Message>();
  EXPECT_EQ(next.seq, live);
  EXPECT_FALSE(next.replay);
}

// A history longer than the session's output budget comes in replies of about half the outbox
// each (more: true), each written before the next is built: a reader with a tiny receive window
// that asks for everything at once is paced, not closed as a slow consumer.
TEST(History, ALongHistoryIsPacedForASlowReader) {
  ServerProcess server;
  auto cfg = fast_config(server);
  cfg["limits"]["outbox_bytes"] = 65536;
  cfg["limits"]["max_frame"] = 32768;
  cfg["limits"]["send_buffer_bytes"] = 4096;
  ASSERT_TRUE(server.start(cfg));
  TestClient alice, reader;
  ASSERT_TRUE(alice.open(server.port()));
  ASSERT_TRUE(reader.open(server.port(), {}, ConnectOptions{4096}));
  join(alice, "lobby");
  const std::string text(3000, 'h');
  for (int i = 0; i < 100; ++i)
    say(alice, "lobby", text);  // 300 KB of history
  join(reader, "lobby");

  // 20 whole-history requests at once: about 640 KB of replies against a 64 KiB outbox.
  constexpr int kAsks = 20;
  std::vector<req::Request> asks;
  for (int i = 0; i < kAsks; ++i)
    asks.push_back(request(req::History{"lobby", 0, 100}, std::int64_t{i}));
  ASSERT_TRUE(reader.send_burst(asks));
  std::this_thread::sleep_for(1s);  // the reader reads nothing for a while
  alice.expect_alive();
  for (int i = 0; i < kAsks; ++i) {
    const Reply reply = read_reply(reader);
    EXPECT_EQ(reply.end.id, RequestId{std::int64_t{i}});
    EXPECT_TRUE(reply.end.more);
    EXPECT_GE(reply.messages.size(), 5u);
    EXPECT_LE(reply.messages.size(), 11u) << "half of 64 KiB holds ten of these";
  }
  reader.expect_alive();
  EXPECT_FALSE(server.wait_for_log(
      [](const nlohmann::json& j) { return j.value("event", "") == "slow_consumer"; }, 0ms));

  // Going on from the last seq of each reply reaches the end, in order, without a gap.
  std::vector<std::uint64_t> seen;
  std::uint64_t after = 0;
  for (int round = 0; round < 100; ++round) {
    const Reply reply = ask(reader, req::History{"lobby", after, 100});
    for (const auto& m : reply.messages)
      seen.push_back(m.seq);
    if (!reply.messages.empty()) after = reply.messages.back().seq;
    if (!reply.end.more) break;
  }
  ASSERT_EQ(seen.size(), 100u);
  for (std::size_t i = 1; i < seen.size(); ++i)
    EXPECT_EQ(seen[i], seen[i - 1] + 1);
}

// One of the clients of ClientsAskingJustUnderTheRateDoNotStarveOthers: asks for the room's
// whole history at `rate` requests a second, reading everything as it comes, until `stop`.
struct HistoryAsker {
  TestClient client;
  std::atomic<int> replies{0};
  std::atomic<int> errors{0};
  std::atomic<bool> closed{false};

  void run(double rate, const std::atomic<bool>& stop) {
    const auto interval =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
    auto next = Clock::now();
    std::int64_t id = 100;
    // Bounded by `stop`, which the test sets after a bounded time, and by the session's end.
    while (!stop) {
      if (Clock::now() >= next) {
        req::History history;
        history.room = "lobby";
        history.limit = 100;
        EXPECT_TRUE(client.send(std::move(history), RequestId{id++}));
        // Never faster than `rate` on average, however late this thread runs.
        next = std::max(next + interval, Clock::now() - interval);
      }
      const auto wait = std::chrono::duration_cast<milliseconds>(next - Clock::now());
      auto event = client.next_event(std::max(wait, milliseconds(1)));
      if (!event) {
        if (client.eof() || client.close_record()) {
          closed = true;
          return;
        }
        continue;
      }
      if (std::holds_alternative<evt::HistoryEnd>(*event)) ++replies;
      if (std::holds_alternative<evt::Error>(*event)) ++errors;
    }
  }
};

// Clients just under the limits: six, each from its own loopback address, ask for the room's
// whole history (about 400 KB a reply: a few bytes asked, much sent) at 90% of the request rate
// the server allows, reading as fast as they can. Meanwhile an ordinary client joins, talks and
// asks for history: every answer comes within a bounded wait, nobody is refused for its rate,
// and nobody is closed as a slow consumer.
TEST(History, ClientsAskingJustUnderTheRateDoNotStarveOthers) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 10;  // the defaults, spelled out: the askers pace themselves from them
  cfg["limits"]["burst"] = 20;
  ASSERT_TRUE(server.start(cfg));
  constexpr int kAskers = 6;
  constexpr int kSaysEach = 16;  // with the join, within the burst: 96 messages of history
  const std::string text(4000, 'x');
  std::vector<std::unique_ptr<HistoryAsker>> askers;
  for (int i = 0; i < kAskers; ++i) {
    askers.push_back(std::make_unique<HistoryAsker>());
    ConnectOptions from;
    from.source_address = "127.0.0." + std::to_string(2 + i);
    ASSERT_TRUE(askers.back()->client.open(server.port(), {}, from));
    askers.back()->client.set_auto_pong(true);
    std::vector<req::Request> burst{request(req::Join{"lobby"}, std::int64_t{1})};
    for (int k = 0; k < kSaysEach; ++k)
      burst.push_back(request(req::Say{"lobby", text}, std::int64_t{2 + k}));
    ASSERT_TRUE(askers.back()->client.send_burst(burst));
    for (int k = 0; k <= kSaysEach; ++k)
      ASSERT_TRUE(askers.back()->client.wait_for<evt::Ack>());
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (auto& asker : askers)
    threads.emplace_back([&asker, &stop] { asker->run(9.0, stop); });
  // Stops and joins the askers however this test ends.
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{stop, threads};

  // Under way: every asker has had a few replies.
  const auto started = Clock::now();
  const auto under_way = [&] {
    return std::all_of(askers.begin(), askers.end(), [](const auto& a) { return a->replies >= 3; });
  };
  while (!under_way() && Clock::now() - started < 20s * kSlowdown)
    std::this_thread::sleep_for(10ms);  // the askers' counters have no "tell me": poll, bounded
  ASSERT_TRUE(under_way());

  // The ordinary client: each step answered within the bound.
  const milliseconds bound{2000 * kSlowdown};
  TestClient alice;
  ASSERT_TRUE(alice.open(server.port()));
  alice.set_auto_pong(true);
  milliseconds slowest{0};
  int replies = 0;
  const auto timed = [&](const char* what, const std::function<void()>& step) {
    const auto from = Clock::now();
    step();
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - from);
    EXPECT_LT(took, bound) << what << " took " << took.count() << " ms";
    slowest = std::max(slowest, took);
  };
  timed("join", [&] { join(alice, "lobby"); });
  // Rounds for about 2.4 s of the askers' load, at a person's pace (two requests every 200 ms,
  // well inside alice's own rate).
  for (int round = 0; round < 12; ++round) {
    if (round > 0) std::this_thread::sleep_for(200ms);
    const std::string said = "round " + std::to_string(round);
    std::uint64_t seq = 0;
    timed("say", [&] { seq = say(alice, "lobby", said); });
    timed("history", [&] {
      req::History history;
      history.room = "lobby";
      history.limit = 5;
      ASSERT_TRUE(alice.send(std::move(history), RequestId{std::int64_t{50 + round}}));
      // Live messages of the room may come first; the reply is whole once it starts.
      std::optional<evt::Message> last_replayed;
      for (int i = 0; i < 1000; ++i) {
        auto event = alice.next_event(bound);
        ASSERT_TRUE(event) << "no history reply in time";
        if (auto* m = std::get_if<evt::Message>(&*event); m && m->replay) last_replayed = *m;
        if (std::holds_alternative<evt::HistoryEnd>(*event)) break;
      }
      ASSERT_TRUE(last_replayed);
      EXPECT_EQ(last_replayed->seq, seq);
      EXPECT_EQ(last_replayed->text, said);
    });
  }
  stop = true;
  for (auto& t : threads)
    t.join();

  for (int i = 0; i < kAskers; ++i) {
    EXPECT_FALSE(askers[i]->closed) << "asker " << i << " was closed";
    EXPECT_EQ(askers[i]->errors, 0) << "asker " << i << " was refused (its rate?)";
    EXPECT_GE(askers[i]->replies, 3) << "asker " << i;
    replies += askers[i]->replies;
  }
  ::testing::Test::RecordProperty("asker_replies", replies);
  ::testing::Test::RecordProperty("slowest_step_ms", static_cast<int>(slowest.count()));
  EXPECT_FALSE(server.wait_for_log(
      [](const nlohmann::json& j) { return j.value("event", "") == "slow_consumer"; }, 0ms))
      << "a slow consumer";
  EXPECT_FALSE(server.wait_for_log(
      [](const nlohmann::json& j) { return j.value("event", "") == "session_close"; }, 0ms))
      << "a session was closed";
}

TEST_F(HistoryTest, AReloadChangesTheBoundsAtOnce) {
  join(alice_, "lobby");
  std::vector<std::uint64_t> said;
  for (int i = 0; i < 10; ++i)
    said.push_back(say(alice_, "lobby", "m" + std::to_string(i)));
  EXPECT_EQ(ask(alice_, req::History{"lobby", 0}).messages.size(), 10u);

  cfg_["history"]["messages"] = 3;
  server_.write_config(cfg_);
  const auto line = server_.reload();
  EXPECT_TRUE(line.value("ok", false)) << line.dump();
  EXPECT_EQ(line.value("changed", nlohmann::json()), nlohmann::json::array({"history.messages"}));
  const Reply shrunk = ask(alice_, req::History{"lobby", 0});
  EXPECT_EQ(seqs_of(shrunk.messages), (std::vector<std::uint64_t>{said[7], said[8], said[9]}));
  EXPECT_FALSE(shrunk.end.complete) << "the older ones were evicted";

  cfg_["history"]["messages"] = 0;
  server_.write_config(cfg_);
  server_.reload();
  const Reply off = ask(alice_, req::History{"lobby"});
  EXPECT_TRUE(off.messages.empty());
  EXPECT_FALSE(off.end.complete);
  say(alice_, "lobby", "not kept");
  EXPECT_TRUE(ask(alice_, req::History{"lobby"}).messages.empty());
}

}  // namespace
}  // namespace parley::it
