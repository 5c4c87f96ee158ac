// Rooms across nodes (docs/cluster.md) over a real nats-server and three parleyd: a say accepted
// on any node reaches every member on every node, every member sees one order per room with seq
// growing by one, an acked message is never lost when a node dies, and while NATS is away says
// are refused `unavailable` and nothing is delivered out of order.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <memory>

#include "nats_fixture.hpp"

namespace parley::it {
namespace {

const milliseconds kBound = kStartTimeout * kSlowdown;

class RoomsAcrossNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    PARLEY_REQUIRE_NATS_SERVER();
    ASSERT_TRUE(nats_.start());
    ASSERT_TRUE(start_nodes(nats_, {"a", "b", "c"}, nodes_));
  }

  // A client on node `n`, in room "dev"; returns the join's seq.
  std::unique_ptr<TestClient> member(std::size_t n, std::uint64_t* joined_at = nullptr) {
    auto client = std::make_unique<TestClient>();
    EXPECT_TRUE(client->open(nodes_[n]->port()));
    client->set_auto_pong(true);
    EXPECT_TRUE(client->send(req::Join{"dev"}, RequestId{std::int64_t{0}}));
    const auto ack = client->expect<evt::Ack>();
    if (joined_at) *joined_at = ack.seq.value_or(0);
    return client;
  }

  // Reads `client`'s events until `count` messages and `ack_count` acks came (bounded); the
  // acks by id.
  static std::vector<evt::Message> messages(TestClient& client, std::size_t count,
                                            std::map<std::int64_t, std::uint64_t>* acks = nullptr,
                                            std::size_t ack_count = 0) {
    std::vector<evt::Message> out;
    const auto deadline = Clock::now() + kBound;
    while ((out.size() < count || (acks && acks->size() < ack_count)) && Clock::now() < deadline) {
      auto event = client.next_event(milliseconds(200));
      if (!event) continue;
      if (auto* m = std::get_if<evt::Message>(&*event)) out.push_back(*m);
      if (auto* a = std::get_if<evt::Ack>(&*event); a && acks)
        (*acks)[std::get<std::int64_t>(a->id)] = a->seq.value_or(0);
      if (auto* e = std::get_if<evt::Error>(&*event)) ADD_FAILURE() << evt::serialize(*e);
    }
    return out;
  }

  NatsServer nats_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

std::vector<std::uint64_t> seqs_of(const std::vector<evt::Message>& messages) {
  std::vector<std::uint64_t> out;
  for (const auto& m : messages)
    out.push_back(m.seq);
  return out;
}

TEST_F(RoomsAcrossNodes, ARoomSpanningThreeNodesHasOneOrder) {
  // A listener on every node, in the room before anything is said; a talker on every node.
  std::vector<std::unique_ptr<TestClient>> listeners, talkers;
  for (std::size_t n = 0; n < 3; ++n)
    listeners.push_back(member(n));
  for (std::size_t n = 0; n < 3; ++n)
    talkers.push_back(member(n));
  constexpr int kEach = 100;
  // All at once, interleaved: the three nodes compete for the room's next seq.
  for (int i = 1; i <= kEach; ++i)
    for (std::size_t n = 0; n < 3; ++n)
      ASSERT_TRUE(talkers[n]->send(
          req::Say{"dev", "node " + std::to_string(n) + " line " + std::to_string(i)},
          RequestId{std::int64_t{i}}));
  std::vector<std::vector<evt::Message>> seen;
  for (auto& listener : listeners)
    seen.push_back(messages(*listener, 3 * kEach));
  if (seen[0].size() != 3u * kEach) {
    // Why: a say refused (`unavailable`) is in its talker's events.
    for (std::size_t n = 0; n < 3; ++n)
      for (auto e = talkers[n]->next_event(milliseconds(200)); e;
           e = talkers[n]->next_event(milliseconds(200)))
        if (const auto* error = std::get_if<evt::Error>(&*e))
          ADD_FAILURE() << "node " << n << " refused a say: " << evt::serialize(*error);
  }
  ASSERT_EQ(seen[0].size(), 3u * kEach);
  EXPECT_EQ(seen[1], seen[0]) << "node b saw another order than node a";
  EXPECT_EQ(seen[2], seen[0]) << "node c saw another order than node a";
  const auto order = seqs_of(seen[0]);
  for (std::size_t i = 1; i < order.size(); ++i)
    ASSERT_EQ(order[i], order[i - 1] + 1) << "seq grows by one per message, at " << i;
  // Each node's lines are in the order their talker said them.
  std::map<std::string, int> next;
  for (const auto& m : seen[0]) {
    const std::string node = m.text.substr(0, 6);
    EXPECT_EQ(m.text, node + " line " + std::to_string(++next[node]));
  }
  // Each talker: an ack per say carrying that message's seq, and the others' 200 in the one order.
  for (std::size_t n = 0; n < 3; ++n) {
    std::map<std::int64_t, std::uint64_t> acks;
    const auto others = messages(*talkers[n], 2 * kEach, &acks, kEach);
    ASSERT_EQ(acks.size(), static_cast<std::size_t>(kEach)) << "node " << n;
    for (const auto& [id, seq] : acks) {
      const std::uint64_t acked = seq;  // clang 14 captures no structured binding
      const auto it = std::find_if(seen[0].begin(), seen[0].end(),
                                   [&](const evt::Message& m) { return m.seq == acked; });
      ASSERT_NE(it, seen[0].end());
      EXPECT_EQ(it->text, "node " + std::to_string(n) + " line " + std::to_string(id));
    }
    std::vector<evt::Message> expected;
    for (const auto& m : seen[0])
      if (!m.text.starts_with("node " + std::to_string(n))) expected.push_back(m);
    EXPECT_EQ(others, expected) << "node " << n;
  }
}

TEST_F(RoomsAcrossNodes, WhatANodeAckedSurvivesItsDeath) {
  auto listener = member(2);
  auto talker = member(0);
  constexpr int kLines = 200;
  for (int i = 1; i <= kLines; ++i)
    ASSERT_TRUE(
        talker->send(req::Say{"dev", "line " + std::to_string(i)}, RequestId{std::int64_t{i}}));
  // Some acks, then node a dies with the rest in flight.
  std::map<std::int64_t, std::uint64_t> acks;
  messages(*talker, 0, &acks, 20);
  nodes_[0]->signal(SIGKILL);
  nodes_[0]->wait_exit();
  ASSERT_GE(acks.size(), 20u);
  // Every acked line reaches node c's member; what came is in order, gap-free.
  std::vector<evt::Message> got;
  const auto deadline = Clock::now() + kBound;
  while (Clock::now() < deadline) {
    auto event = listener->next_event(milliseconds(500));
    if (!event) {
      if (!got.empty() &&
          got.back().seq >= std::max_element(acks.begin(), acks.end(), [](auto& x, auto& y) {
                              return x.second < y.second;
                            })->second)
        break;
      continue;
    }
    if (auto* m = std::get_if<evt::Message>(&*event)) got.push_back(*m);
  }
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].text, "line " + std::to_string(i + 1));
  for (const auto& [id, seq] : acks) {
    ASSERT_LE(static_cast<std::size_t>(id), got.size()) << "acked line " << id << " lost";
    EXPECT_EQ(got[static_cast<std::size_t>(id) - 1].seq, seq);
  }
}

TEST_F(RoomsAcrossNodes, WithoutNatsSaysAreUnavailableAndTheRoomGoesOnAfter) {
  auto listener = member(1);
  auto talker = member(0);
  ASSERT_TRUE(talker->send(req::Say{"dev", "before"}, RequestId{std::int64_t{1}}));
  ASSERT_EQ(messages(*listener, 1).size(), 1u);
  const auto mark = nodes_[0]->log_mark();
  nats_.stop();
  ASSERT_TRUE(nodes_[0]->wait_for_event("cluster_degraded", kBound, mark));
  ASSERT_TRUE(talker->send(req::Say{"dev", "during"}, RequestId{std::int64_t{2}}));
  const auto refused = talker->wait_for<evt::Error>();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, ErrorCode::unavailable);
  EXPECT_EQ(refused->id, RequestId{std::int64_t{2}});
  // Sessions stay connected through it.
  ASSERT_TRUE(nats_.restart());
  ASSERT_TRUE(nodes_[0]->wait_for_event("cluster_restored", kBound, mark));
  // The consumers come back too (libnats re-creates them): a say now reaches node b, after the
  // first, with the next seq.
  std::optional<evt::Message> after;
  for (int attempt = 3; attempt < 40 && !after; ++attempt) {
    ASSERT_TRUE(talker->send(req::Say{"dev", "after"}, RequestId{std::int64_t{attempt}}));
    auto answer = talker->wait_for<evt::Ack>([](const evt::Ack&) { return true; },
                                             milliseconds(1000) * kSlowdown);
    if (!answer) continue;  // refused: the stream is not back yet
    after = listener->wait_for<evt::Message>();
  }
  ASSERT_TRUE(after);
  EXPECT_EQ(after->text, "after");
}

// An attacker just under the per-room bound (kMaxWaitingPerRoom: 1024 says waiting in one room
// on one node), from three addresses at once: every say of theirs is stored (none refused), in
// one order, and a member of another room on the same node still gets its say through.
TEST_F(RoomsAcrossNodes, AFloodJustUnderTheRoomBoundIsStoredAndOthersGoOn) {
  std::vector<std::unique_ptr<TestClient>> attackers;
  for (const char* source : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    auto client = std::make_unique<TestClient>();
    ConnectOptions from;
    from.source_address = source;
    ASSERT_TRUE(client->open(nodes_[0]->port(), {}, from));
    client->set_auto_pong(true);
    ASSERT_TRUE(client->send(req::Join{"flood"}, RequestId{std::int64_t{0}}));
    ASSERT_TRUE(client->wait_for<evt::Ack>());
    attackers.push_back(std::move(client));
  }
  auto listener = member(1);
  auto calm = member(0);
  constexpr int kEach = 330;  // 990 waiting at most
  for (auto& attacker : attackers) {
    std::vector<req::Request> burst;
    for (int i = 1; i <= kEach; ++i)
      burst.push_back(request(req::Say{"flood", "x"}, std::int64_t{i}));
    ASSERT_TRUE(attacker->send_burst(burst));
  }
  ASSERT_TRUE(calm->send(req::Say{"dev", "still here"}, RequestId{std::int64_t{1}}));
  const auto acked = calm->wait_for<evt::Ack>(
      [](const evt::Ack& a) { return a.id == RequestId{std::int64_t{1}}; }, kBound);
  ASSERT_TRUE(acked) << "a say in another room waited for the flood";
  EXPECT_EQ(messages(*listener, 1).front().text, "still here");
  for (auto& attacker : attackers) {
    std::map<std::int64_t, std::uint64_t> acks;
    messages(*attacker, 0, &acks, kEach);  // fails the test on any error (a refusal)
    EXPECT_EQ(acks.size(), static_cast<std::size_t>(kEach));
  }
}

}  // namespace
}  // namespace parley::it
