// Nicks, presence, who/rooms and direct messages across nodes (docs/cluster.md) over a real
// nats-server and three parleyd: a nick is held once in the whole cluster, a direct message
// reaches a nick on any node, who and rooms answer for every node, joins, parts, nick changes and
// quits reach members on the other nodes, a killed node's members quit and its nicks come free
// within the directory's TTL, and while NATS is away requests that need it are `unavailable`.
#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <memory>
#include <thread>

#include "nats_fixture.hpp"

namespace parley::it {
namespace {

const milliseconds kBound = kStartTimeout * kSlowdown;
// The directory's TTL (server/cluster_directory.hpp: 15 s) and a refresh of slack.
const milliseconds kTtlBound = milliseconds(15000 + 5000) * kSlowdown;

class AcrossNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    PARLEY_REQUIRE_NATS_SERVER();
    ASSERT_TRUE(nats_.start());
    ASSERT_TRUE(start_nodes(nats_, {"a", "b", "c"}, nodes_));
  }

  // A client on node `n` named `nick`.
  std::unique_ptr<TestClient> user(std::size_t n, const std::string& nick) {
    auto client = std::make_unique<TestClient>();
    EXPECT_TRUE(client->open(nodes_[n]->port()));
    client->set_auto_pong(true);
    EXPECT_TRUE(client->send(req::Nick{nick}, RequestId{std::int64_t{0}}));
    client->expect<evt::Ack>();
    return client;
  }

  static void join(TestClient& client, const std::string& room) {
    ASSERT_TRUE(client.send(req::Join{room}, RequestId{std::int64_t{0}}));
    ASSERT_TRUE(client.wait_for<evt::Ack>());
  }

  // Sends `body` until its answer (the ack, error, who or rooms with its id) satisfies `done`, at
  // most until `bound`: what another node did reaches this one a moment later.
  static std::optional<evt::Event> until(TestClient& client, const req::Body& body,
                                         const std::function<bool(const evt::Event&)>& done,
                                         milliseconds bound = kBound) {
    const auto deadline = Clock::now() + bound;
    for (std::int64_t id = 1000; Clock::now() < deadline; ++id) {
      if (!client.send(body, RequestId{id})) return std::nullopt;
      for (;;) {
        auto event = client.next_event(kBound);
        if (!event) return std::nullopt;
        if (!answers(*event, RequestId{id})) continue;
        if (done(*event)) return event;
        break;
      }
      std::this_thread::sleep_for(milliseconds(50));  // a poll of another node's news
    }
    return std::nullopt;
  }

  static bool answers(const evt::Event& event, const RequestId& id) {
    if (const auto* ack = std::get_if<evt::Ack>(&event)) return ack->id == id;
    if (const auto* error = std::get_if<evt::Error>(&event)) return error->id == id;
    if (const auto* who = std::get_if<evt::Who>(&event)) return who->id == id;
    if (const auto* rooms = std::get_if<evt::Rooms>(&event)) return rooms->id == id;
    return false;
  }

  static bool acked(const evt::Event& event) { return std::holds_alternative<evt::Ack>(event); }

  NatsServer nats_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

TEST_F(AcrossNodes, ANickIsHeldOnceInTheCluster) {
  auto alice = user(0, "alice");
  for (std::size_t n : {1u, 2u}) {
    TestClient other;
    ASSERT_TRUE(other.open(nodes_[n]->port()));
    ASSERT_TRUE(other.send(req::Nick{n == 1 ? "alice" : "ALICE"}, RequestId{std::int64_t{1}}));
    const auto error = other.expect<evt::Error>();
    EXPECT_EQ(error.code, ErrorCode::nick_taken) << "node " << n;
  }
  // Given up, it is free on every node (the old nick's tombstone follows the ack at once).
  ASSERT_TRUE(alice->send(req::Nick{"alicia"}, RequestId{std::int64_t{2}}));
  alice->expect<evt::Ack>();
  TestClient later;
  ASSERT_TRUE(later.open(nodes_[2]->port()));
  const auto taken = until(later, req::Nick{"alice"}, acked);
  ASSERT_TRUE(taken) << "alice never came free on node c";
}

TEST_F(AcrossNodes, DirectMessagesReachANickOnAnyNode) {
  auto alice = user(0, "alice");
  auto bob = user(2, "bob");
  ASSERT_TRUE(until(*bob, req::Msg{"alice", "hello from c"}, acked));
  const auto direct = alice->expect<evt::Direct>();
  EXPECT_EQ(direct.from, "bob");
  EXPECT_EQ(direct.text, "hello from c");
  ASSERT_TRUE(alice->send(req::Msg{"BOB", "hi back"}, RequestId{std::int64_t{2}}));
  alice->expect<evt::Ack>();
  EXPECT_EQ(bob->expect<evt::Direct>().text, "hi back");
  ASSERT_TRUE(bob->send(req::Msg{"nobody", "x"}, RequestId{std::int64_t{3}}));
  EXPECT_EQ(bob->expect<evt::Error>().code, ErrorCode::no_such_nick);
}

TEST_F(AcrossNodes, WhoAndRoomsAnswerForTheWholeCluster) {
  auto alice = user(0, "alice");
  auto bob = user(1, "bob");
  auto carol = user(2, "carol");
  join(*alice, "dev");
  join(*bob, "Dev");
  join(*carol, "ops");
  const auto who =
      until(*carol, req::Who{"dev", std::nullopt, std::nullopt},
            [](const evt::Event& e) { return std::get<evt::Who>(e).nicks.size() == 2; });
  ASSERT_TRUE(who) << "node c never saw both members of dev";
  EXPECT_EQ(std::get<evt::Who>(*who).nicks, (std::vector<std::string>{"alice", "bob"}));
  const auto listing =
      until(*alice, req::Rooms{std::nullopt, std::nullopt},
            [](const evt::Event& e) { return std::get<evt::Rooms>(e).rooms.size() == 2; });
  ASSERT_TRUE(listing) << "node a never saw both rooms";
  const auto& rooms = std::get<evt::Rooms>(*listing).rooms;
  EXPECT_EQ(rooms[0].name, "dev");
  EXPECT_EQ(rooms[0].members, 2u);
  EXPECT_EQ(rooms[1].name, "ops");
  EXPECT_EQ(rooms[1].members, 1u);
}

TEST_F(AcrossNodes, JoinsPartsNickChangesAndQuitsReachTheOtherNodes) {
  auto bob = user(1, "bob");
  join(*bob, "dev");
  auto alice = user(0, "alice");
  join(*alice, "dev");
  const auto joined = bob->wait_for<evt::Joined>();
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->nick, "alice");
  EXPECT_EQ(joined->room, "dev");
  ASSERT_TRUE(alice->send(req::Nick{"alicia"}, RequestId{std::int64_t{1}}));
  const auto renamed = bob->wait_for<evt::NickChanged>();
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->old_nick, "alice");
  EXPECT_EQ(renamed->new_nick, "alicia");
  ASSERT_TRUE(alice->send(req::Part{"dev"}, RequestId{std::int64_t{2}}));
  const auto parted = bob->wait_for<evt::Parted>();
  ASSERT_TRUE(parted);
  EXPECT_EQ(parted->nick, "alicia");
  join(*alice, "dev");
  ASSERT_TRUE(bob->wait_for<evt::Joined>());
  ASSERT_TRUE(alice->send(req::Quit{"see you"}, RequestId{std::int64_t{3}}));
  const auto quit = bob->wait_for<evt::Quit>();
  ASSERT_TRUE(quit);
  EXPECT_EQ(quit->nick, "alicia");
  EXPECT_EQ(quit->reason, "see you");
  // And bob's own words reach node a's members as before: presence and rooms together.
  auto carol = user(0, "carol");
  join(*carol, "dev");
  ASSERT_TRUE(bob->send(req::Say{"dev", "anyone?"}, RequestId{std::int64_t{4}}));
  const auto message = carol->wait_for<evt::Message>();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->from, "bob");
}

TEST_F(AcrossNodes, AKilledNodesMembersQuitAndItsNicksComeFree) {
  auto bob = user(1, "bob");
  join(*bob, "dev");
  auto alice = user(0, "alice");
  join(*alice, "dev");
  ASSERT_TRUE(bob->wait_for<evt::Joined>());
  const auto killed = Clock::now();
  nodes_[0]->signal(SIGKILL);
  nodes_[0]->wait_exit();
  const auto quit = bob->wait_for<evt::Quit>([](const evt::Quit&) { return true; }, kTtlBound);
  ASSERT_TRUE(quit) << "node b never saw alice go";
  EXPECT_EQ(quit->nick, "alice");
  // The same bound frees her nick: the bucket's TTL.
  TestClient heir;
  ASSERT_TRUE(heir.open(nodes_[2]->port()));
  heir.set_auto_pong(true);
  const auto taken = until(heir, req::Nick{"alice"}, acked, kTtlBound);
  ASSERT_TRUE(taken) << "alice's nick never came free";
  EXPECT_LT(Clock::now() - killed, kTtlBound + kBound);
}

TEST_F(AcrossNodes, WithoutNatsNickJoinAndMsgAreUnavailable) {
  auto alice = user(0, "alice");
  auto bob = user(1, "bob");
  std::vector<std::size_t> marks;
  for (const auto& node : nodes_)
    marks.push_back(node->log_mark());
  nats_.stop();
  ASSERT_TRUE(nodes_[1]->wait_for_event("cluster_degraded", kBound, marks[1]));
  const std::vector<req::Body> needs_the_cluster = {req::Nick{"robert"}, req::Join{"dev"},
                                                    req::Msg{"alice", "x"}};
  for (const auto& body : needs_the_cluster) {
    ASSERT_TRUE(bob->send(body, RequestId{std::int64_t{1}}));
    const auto error = bob->expect<evt::Error>();
    EXPECT_EQ(error.code, ErrorCode::unavailable) << "request " << body.index();
  }
  // Sessions stay; when NATS is back, so is the cluster.
  ASSERT_TRUE(nats_.restart());
  // A direct message is at most once: one sent while its node was still away would be lost.
  for (std::size_t n = 0; n < nodes_.size(); ++n)
    ASSERT_TRUE(nodes_[n]->wait_for_event("cluster_restored", kBound, marks[n])) << "node " << n;
  ASSERT_TRUE(until(*bob, req::Nick{"robert"}, acked));
  ASSERT_TRUE(until(*bob, req::Msg{"alice", "back"}, acked));
  const auto direct = alice->wait_for<evt::Direct>();
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->from, "robert");
}

}  // namespace
}  // namespace parley::it
