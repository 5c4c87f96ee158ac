// A member that stops reading is bounded in bytes (outbox_bytes, with the kernel's send buffer
// capped by send_buffer_bytes) and in time (write_deadline_ms), and nobody else notices.
#include <signal.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

void join(TestClient& c, const std::string& room, std::int64_t id) {
  ASSERT_TRUE(c.send(req::Join{room}, RequestId{id}));
  (void)c.wait_for<evt::Ack>();
}

// Reads what has arrived without waiting; counts messages, checks their order, keeps quits.
struct Tally {
  std::uint64_t total = 0;
  std::uint64_t last_seq = 0;
  std::map<std::string, std::string> quits;  // nick -> reason
  void drain(TestClient& c, milliseconds wait = 0ms) {
    while (auto event = c.next_event(wait)) {
      wait = 0ms;
      if (auto* m = std::get_if<evt::Message>(&*event)) {
        EXPECT_GT(m->seq, last_seq) << c.nick() << ": messages out of order";
        last_seq = m->seq;
        ++total;
      } else if (auto* q = std::get_if<evt::Quit>(&*event)) {
        quits[q->nick] = q->reason.value_or("");
      }
    }
  }
};

std::optional<nlohmann::json> log_for(ServerProcess& server, std::string_view event,
                                      const std::string& nick, milliseconds timeout) {
  return server.wait_for_log(
      [&](const nlohmann::json& j) {
        return j.value("event", "") == event && j.value("nick", "") == nick;
      },
      timeout);
}

// The shape an attacker used: 10 senders, each four 3,000-byte messages a second, and a member
// that never reads. With the outbox far from full, only the write deadline can close it.
TEST(SlowConsumers, StalledMemberIsClosedWithinTheWriteDeadline) {
  ServerProcess server;
  auto cfg = server.default_config();
  const milliseconds deadline{2000 * kSlowdown};
  cfg["limits"]["write_deadline_ms"] = deadline.count();
  ASSERT_TRUE(server.start(cfg));

  TestClient stalled;
  ASSERT_TRUE(stalled.open(server.port(), {}, ConnectOptions{4096}));
  join(stalled, "stage", 1);
  std::vector<std::unique_ptr<TestClient>> senders, readers;
  for (int i = 0; i < 12; ++i) {
    auto c = std::make_unique<TestClient>();
    ASSERT_TRUE(c->open(server.port()));
    c->set_auto_pong(true);
    join(*c, "stage", 1);
    (i < 10 ? senders : readers).push_back(std::move(c));
  }
  std::vector<TestClient*> members;
  for (auto& c : senders)
    members.push_back(c.get());
  for (auto& c : readers)
    members.push_back(c.get());
  std::vector<Tally> tallies(members.size());
  for (std::size_t i = 0; i < members.size(); ++i)
    tallies[i].drain(*members[i]);

  const std::string text(3000, 'm');
  std::uint64_t rounds = 0, rounds_after_close = 0;
  std::optional<nlohmann::json> closed;
  const auto give_up = Clock::now() + deadline + 10s * kSlowdown;
  auto next_round = Clock::now();
  // Four rounds a second; goes on for two seconds after the stalled member is gone.
  while (rounds_after_close < 8 && Clock::now() < give_up) {
    std::this_thread::sleep_until(next_round);  // pacing is the test's subject, not a wait
    next_round += 250ms;
    for (auto& s : senders)
      ASSERT_TRUE(s->send(req::Say{"stage", text}));
    ++rounds;
    for (std::size_t i = 0; i < members.size(); ++i)
      tallies[i].drain(*members[i]);
    if (!closed) closed = log_for(server, "session_close", stalled.nick(), 0ms);
    if (closed) ++rounds_after_close;
  }
  ASSERT_TRUE(closed) << "the stalled member was still connected after " << rounds << " rounds";

  auto slow = log_for(server, "slow_consumer", stalled.nick(), 0ms);
  ASSERT_TRUE(slow) << "no slow_consumer line names " << stalled.nick();
  ASSERT_TRUE(slow->contains("stalled_ms")) << *slow;
  const auto stalled_ms = slow->at("stalled_ms").get<std::int64_t>();
  EXPECT_GE(stalled_ms, deadline.count());
  EXPECT_LE(stalled_ms, deadline.count() + 1000 * kSlowdown);
  EXPECT_LT(slow->at("unsent_bytes").get<std::int64_t>(), 1048576) << "the outbox filled first";
  EXPECT_EQ(closed->value("reason", ""), "write stalled");

  // Everyone else got every message of every round, before and after.
  for (std::size_t i = 0; i < members.size(); ++i) {
    const std::uint64_t expected =
        (i < senders.size() ? senders.size() - 1 : senders.size()) * rounds;
    const auto until = Clock::now() + 5s;
    while (tallies[i].total < expected && Clock::now() < until)
      tallies[i].drain(*members[i], 100ms);
    EXPECT_EQ(tallies[i].total, expected) << "member " << members[i]->nick();
  }
  for (std::size_t i = 0; i < members.size(); ++i)
    EXPECT_EQ(tallies[i].quits[stalled.nick()], "slow consumer") << "member " << members[i]->nick();
}

// Just under the write deadline: members that read only once per half deadline (what arrived
// meanwhile), from several source addresses, are slow but never stalled, and stay; the one that
// reads nothing at all is closed.
TEST(SlowConsumers, SteadyReadersJustUnderTheDeadlineStay) {
  ServerProcess server;
  auto cfg = server.default_config();
  const milliseconds deadline{2000 * kSlowdown};
  cfg["limits"]["write_deadline_ms"] = deadline.count();
  ASSERT_TRUE(server.start(cfg));
  std::vector<std::unique_ptr<TestClient>> steady;
  for (const char* source : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    auto c = std::make_unique<TestClient>();
    ConnectOptions options{4096, source};
    ASSERT_TRUE(c->open(server.port(), {}, options));
    join(*c, "drip", 1);
    steady.push_back(std::move(c));
  }
  TestClient stalled, sender;
  ASSERT_TRUE(stalled.open(server.port(), {}, ConnectOptions{4096, "127.0.0.5"}));
  join(stalled, "drip", 1);
  ASSERT_TRUE(sender.open(server.port()));
  join(sender, "drip", 1);

  // Each round: the sender says 3,000 bytes eight times (more than the silent member's buffers
  // hold after a few rounds); each steady member then reads what has arrived, and nothing more
  // until the next round, half a deadline later.
  const std::string text(3000, 'd');
  std::vector<Tally> tallies(steady.size());
  std::uint64_t sent = 0;
  const auto until = Clock::now() + deadline * 3;
  while (Clock::now() < until) {
    for (int i = 0; i < 8; ++i)
      ASSERT_TRUE(sender.send(req::Say{"drip", text}));
    sent += 8;
    for (std::size_t i = 0; i < steady.size(); ++i) {
      tallies[i].drain(*steady[i]);
      ASSERT_FALSE(steady[i]->eof() || steady[i]->close_record()) << "a steady reader was closed";
    }
    std::this_thread::sleep_for(deadline / 2);  // the reading pace is the test's subject
  }
  EXPECT_TRUE(log_for(server, "session_close", stalled.nick(), 5s).has_value())
      << "the member that read nothing was not closed";
  for (std::size_t i = 0; i < steady.size(); ++i) {
    EXPECT_FALSE(log_for(server, "slow_consumer", steady[i]->nick(), 0ms).has_value())
        << "steady reader " << i << " was taken for a slow consumer";
    tallies[i].drain(*steady[i], 2s);
    EXPECT_EQ(tallies[i].total, sent) << "steady reader " << i << " lost messages";
    steady[i]->expect_alive();
  }
}

// The outbox's byte budget: a member whose backlog passes outbox_bytes is closed with code 10,
// and learns why once it reads.
TEST(SlowConsumers, FullOutboxIsClosedWithCode10) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["outbox_bytes"] = 65536;
  cfg["limits"]["max_frame"] = 16384;  // the outbox holds at least two whole records
  cfg["limits"]["send_buffer_bytes"] = 4096;
  cfg["limits"]["write_deadline_ms"] = 300000;  // only the budget can close it here
  cfg["limits"]["rate"] = 1000;
  cfg["limits"]["burst"] = 1000;
  ASSERT_TRUE(server.start(cfg));
  TestClient sender, reader, sluggard;
  ASSERT_TRUE(sender.open(server.port()));
  ASSERT_TRUE(reader.open(server.port()));
  ASSERT_TRUE(sluggard.open(server.port(), {}, ConnectOptions{4096}));
  join(sluggard, "flood", 1);
  join(sender, "flood", 1);
  join(reader, "flood", 1);
  Tally tally;
  tally.drain(reader);
  tally.quits.clear();

  const std::string text(4096, 'z');
  std::uint64_t sent = 0;
  std::optional<nlohmann::json> slow;
  // 200 x 4 KiB = 800 KiB, far beyond the sluggard's 64 KiB budget and 16 KiB of buffers.
  while (!slow && sent < 200) {
    ASSERT_TRUE(sender.send(req::Say{"flood", text}));
    ++sent;
    const auto until = Clock::now() + 2s;
    while (tally.total < sent && Clock::now() < until)
      tally.drain(reader, 50ms);
    slow = log_for(server, "slow_consumer", sluggard.nick(), 0ms);
  }
  ASSERT_TRUE(slow) << "no slow_consumer for " << sluggard.nick() << " after " << sent;
  EXPECT_FALSE(slow->contains("stalled_ms")) << *slow;
  EXPECT_GT(slow->at("unsent_bytes").get<std::int64_t>(), 0);

  auto closed = sluggard.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::policy) << closed;
  EXPECT_EQ(closed.reason, "slow consumer");
  tally.drain(reader, 1s);
  EXPECT_EQ(tally.quits[sluggard.nick()], "slow consumer");
  EXPECT_EQ(tally.total, sent) << "the reader lost messages";
  sender.expect_alive();
}

// SIGTERM with a peer that takes nothing: its close record cannot leave, the session lingers
// and is cut off, and the server still exits 0 within its grace period.
TEST(SlowConsumers, ShutdownGraceCutsOffAStalledPeer) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["send_buffer_bytes"] = 4096;
  cfg["limits"]["write_deadline_ms"] = 300000;
  ASSERT_TRUE(server.start(cfg));
  TestClient sender, stalled;
  ASSERT_TRUE(sender.open(server.port()));
  ASSERT_TRUE(stalled.open(server.port(), {}, ConnectOptions{4096}));
  join(stalled, "jam", 1);
  join(sender, "jam", 1);
  const std::string text(4000, 'j');
  for (std::int64_t id = 10; id < 25; ++id)  // 60 KB: far more than the 16 KB of buffers
    ASSERT_TRUE(sender.send(req::Say{"jam", text}, RequestId{id}));
  sender.expect_alive();  // every say was handled, so the stalled member's outbox is full

  const auto sigterm = Clock::now();
  server.signal(SIGTERM);
  auto closed = sender.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::normal) << closed;
  const auto status = server.wait_exit(10s * kSlowdown);
  const auto took = Clock::now() - sigterm;
  EXPECT_TRUE(status.clean()) << status;
  EXPECT_GE(took, 4500ms) << "the stalled session was not given its linger";
  EXPECT_LE(took, 6500ms * kSlowdown);
  auto line = log_for(server, "session_close", stalled.nick(), kDefaultTimeout);
  ASSERT_TRUE(line) << "the stalled session's end was not logged before the exit";
  EXPECT_EQ(line->value("reason", ""), "server shutting down");
}

// A client's own listings never make it a slow consumer (PROTOCOL.md 6.5): a burst of `rooms`
// requests, ten times what the outbox may hold, sent by a client that then reads nothing for a
// while. The server builds each page only once the one before has been written, so it queues
// one page at a time, and the client, once it reads, gets every page.
TEST(SlowConsumers, ABurstOfListingsWaitsForTheReader) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["outbox_bytes"] = 65536;
  cfg["limits"]["max_frame"] = 32768;
  cfg["limits"]["send_buffer_bytes"] = 4096;
  cfg["limits"]["rate"] = 100000;
  cfg["limits"]["burst"] = 100000;
  ASSERT_TRUE(server.start(cfg));
  TestClient owner, asker;
  ASSERT_TRUE(owner.open(server.port()));
  ASSERT_TRUE(asker.open(server.port(), {}, ConnectOptions{4096}));
  std::vector<req::Request> joins;
  for (int r = 0; r < 100; ++r)
    joins.push_back(request(req::Join{std::string(29, 'r') + std::to_string(100 + r)}, r));
  ASSERT_TRUE(owner.send_burst(joins));
  for (int r = 0; r < 100; ++r)
    ASSERT_TRUE(owner.wait_for<evt::Ack>());

  // 60 pages of 100 rooms (about 5 KB each): 300 KB asked for at once against a 64 KiB outbox.
  constexpr int kPages = 60;
  std::vector<req::Request> asks;
  for (int i = 0; i < kPages; ++i) {
    req::Rooms ask;
    ask.limit = 1000;
    asks.push_back(request(ask, i));
  }
  ASSERT_TRUE(asker.send_burst(asks));
  // The asker reads nothing meanwhile; the owner's ping proves the server went on serving.
  std::this_thread::sleep_for(1s);
  owner.expect_alive();
  EXPECT_FALSE(log_for(server, "slow_consumer", asker.nick(), 0ms));

  for (int i = 0; i < kPages; ++i) {
    const auto page = asker.expect<evt::Rooms>();
    EXPECT_EQ(page.id, RequestId{std::int64_t{i}});
    EXPECT_EQ(page.rooms.size(), 100u);
  }
  asker.expect_alive();
  EXPECT_FALSE(log_for(server, "slow_consumer", asker.nick(), 0ms));
}

}  // namespace
}  // namespace parley::it
