// Room history against the real parleyd (PROTOCOL.md 6.3, 6.4): what a member is replayed, who
// may ask, how a long history reaches a slow reader, what survives the room emptying, and what a
// reload changes.

#include <algorithm>
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
