// The cluster's directory (docs/cluster.md) as pure code: the entries' wire form, the view of
// remote sessions, and two nodes' hubs sharing one model of the KeyValue bucket: nicks unique
// across the nodes, presence, who/rooms and direct messages across them, a node that stops
// refreshing its entries, and a node cut off from the cluster.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <stdexcept>

#include "cluster_directory.hpp"
#include "cluster_wire.hpp"
#include "hub_fakes.hpp"
#include "parley/names.hpp"
#include "remote_sessions.hpp"

namespace parley::server {
namespace {

namespace asio = boost::asio;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing_support::FakeMember;
using testing_support::suffixes;

DirectoryEntry entry(std::string node, std::uint64_t session, std::string nick,
                     std::vector<std::string> rooms = {}) {
  DirectoryEntry e;
  e.node = std::move(node);
  e.process = "p-" + e.node;
  e.session = session;
  e.nick = std::move(nick);
  e.rooms = std::move(rooms);
  return e;
}

TEST(ClusterWire, DirectoryEntriesRoundTripAndStrayOnesAreRefused) {
  DirectoryEntry e = entry("a", 7, "Alice", {"Dev", "ops"});
  e.fingerprint = "SHA256:abc";
  EXPECT_EQ(decode_directory_entry(encode(e)), e);
  DirectoryEntry dead = entry("a", 7, "Alice");
  dead.gone = "bye \"now\" \xc3\xa9";
  EXPECT_EQ(decode_directory_entry(encode(dead)), dead);
  EXPECT_EQ(nick_key("alice"), "616c696365");
  EXPECT_EQ(nick_key("a.b"), "612e62");

  EXPECT_FALSE(decode_directory_entry("not json"));
  EXPECT_FALSE(decode_directory_entry(""));  // a KeyValue delete marker has no body
  EXPECT_FALSE(decode_directory_entry(R"({"v":2,"node":"a","process":"p","session":1,)"
                                      R"("nick":"x","rooms":[]})"));
  EXPECT_FALSE(decode_directory_entry(R"({"v":1,"node":"a","process":"p","session":-1,)"
                                      R"("nick":"x","rooms":[]})"));
  EXPECT_FALSE(decode_directory_entry(R"({"v":1,"node":"a","process":"p","session":1,)"
                                      R"("nick":"bad nick","rooms":[]})"));
  EXPECT_FALSE(decode_directory_entry(R"({"v":1,"node":"a","process":"p","session":1,)"
                                      R"("nick":"x","rooms":["no good"]})"));
  EXPECT_FALSE(decode_directory_entry(R"({"v":1,"node":"","process":"p","session":1,)"
                                      R"("nick":"x","rooms":[]})"));
  DirectoryEntry crowded = entry("a", 1, "x");
  crowded.rooms.assign(kMaxEntryRooms + 1, "r");
  EXPECT_FALSE(decode_directory_entry(encode(crowded)));

  RemoteDirect direct;
  direct.process = "p-b";
  direct.session = 3;
  direct.to = "bob";
  direct.event = R"({"type":"direct","from":"alice","text":"hi","ts":"x"})";
  EXPECT_EQ(decode_remote_direct(encode(direct)), direct);
  EXPECT_EQ(direct_subject("parley", "b"), "parley.direct.62");
  EXPECT_FALSE(decode_remote_direct(R"({"v":1,"process":"p","session":1,"to":"","event":""})"));
}

const auto kStart = steady_clock::time_point{} + seconds(1000);

TEST(RemoteSessions, EntriesBecomeJoinsPartsNickChangesAndQuits) {
  using Kind = PresenceChange::Kind;
  RemoteSessions view("a");
  EXPECT_TRUE(view.apply(entry("a", 1, "mine", {"dev"}), kStart).empty()) << "own node ignored";
  EXPECT_EQ(view.size(), 0u);

  auto changes = view.apply(entry("b", 1, "Bob", {"Dev", "ops"}), kStart);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, Kind::joined);
  EXPECT_EQ(changes[0].room, "Dev");
  EXPECT_EQ(changes[0].rooms, std::vector<std::string>{"dev"});
  EXPECT_EQ(changes[1].room, "ops");
  ASSERT_NE(view.holder("bob"), nullptr);
  EXPECT_EQ(view.holder("bob")->nick, "Bob");
  EXPECT_EQ(view.members("dev").size(), 1u);
  EXPECT_EQ(view.rooms().at("dev").name, "Dev");

  // The same entry again (a refresh) changes nothing.
  EXPECT_TRUE(view.apply(entry("b", 1, "Bob", {"Dev", "ops"}), kStart).empty());

  // A part.
  changes = view.apply(entry("b", 1, "Bob", {"Dev"}), kStart);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Kind::parted);
  EXPECT_EQ(changes[0].room, "ops");
  EXPECT_FALSE(view.rooms().contains("ops"));

  // A nick change: the new nick's entry first, then the old one's tombstone, which is ignored.
  changes = view.apply(entry("b", 1, "robert", {"Dev"}), kStart);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Kind::nick);
  EXPECT_EQ(changes[0].nick, "Bob");
  EXPECT_EQ(changes[0].new_nick, "robert");
  EXPECT_EQ(changes[0].rooms, std::vector<std::string>{"dev"});
  DirectoryEntry old = entry("b", 1, "Bob");
  old.gone = "nick";
  EXPECT_TRUE(view.apply(old, kStart).empty());
  EXPECT_EQ(view.holder("bob"), nullptr);
  EXPECT_NE(view.holder("robert"), nullptr);

  // The same session number on another node, or from another process, is another session.
  EXPECT_EQ(view.apply(entry("c", 1, "carol", {"dev"}), kStart).size(), 1u);
  EXPECT_EQ(view.members("dev").size(), 2u);

  // A tombstone ends it, with its reason.
  DirectoryEntry gone = entry("b", 1, "robert");
  gone.gone = "see you";
  changes = view.apply(gone, kStart);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Kind::quit);
  EXPECT_EQ(changes[0].nick, "robert");
  EXPECT_EQ(changes[0].reason, "see you");
  EXPECT_EQ(changes[0].rooms, std::vector<std::string>{"dev"});
  EXPECT_EQ(view.members("dev").size(), 1u);

  // Not refreshed for the TTL: gone, as a quit.
  EXPECT_TRUE(view.expire(kStart + kDirectoryTtl, kDirectoryTtl).empty());
  changes = view.expire(kStart + kDirectoryTtl + seconds(1), kDirectoryTtl);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].nick, "carol");
  EXPECT_EQ(changes[0].reason, kNodeLostReason);
  EXPECT_EQ(view.size(), 0u);
  EXPECT_TRUE(view.rooms().empty());
}

TEST(RemoteSessions, AnotherSessionUnderTheSameKeyReplacesTheOldHolder) {
  RemoteSessions view("a");
  view.apply(entry("b", 1, "bob", {"dev"}), kStart);
  // Node b's entry expired unseen and node c's session claimed the nick.
  const auto changes = view.apply(entry("c", 5, "Bob", {"dev"}), kStart);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, PresenceChange::Kind::quit);
  EXPECT_EQ(changes[1].kind, PresenceChange::Kind::joined);
  EXPECT_EQ(view.holder("bob")->node, "c");
  EXPECT_EQ(view.size(), 1u);
}

// One KeyValue bucket shared by the nodes: every write is read back by every node's directory,
// in the bucket's order, a turn of the loop later (as the bucket's stream would deliver it).
struct ModelBucket {
  asio::io_context& io;
  std::map<std::string, DirectoryStore::Entry> entries;
  std::uint64_t revision = 0;
  std::vector<ClusterDirectory*> readers;
  std::map<std::string, ClusterDirectory*> nodes;
  bool reachable = true;
  std::size_t writes = 0;

  void write(const std::string& key, const std::string& value) {
    entries[key] = DirectoryStore::Entry{value, ++revision};
    ++writes;
    for (ClusterDirectory* reader : readers)
      asio::post(io, [reader, value] { reader->on_entry(value); });
  }
};

class ModelStore final : public DirectoryStore {
 public:
  explicit ModelStore(ModelBucket& bucket) : bucket_(bucket) {}

  asio::awaitable<bool> create(std::string key, std::string value) override {
    co_await turn();
    if (bucket_.entries.contains(key)) co_return false;
    bucket_.write(key, value);
    co_return true;
  }
  asio::awaitable<bool> update(std::string key, std::string value,
                               std::uint64_t revision) override {
    co_await turn();
    const auto it = bucket_.entries.find(key);
    if (it == bucket_.entries.end() || it->second.revision != revision) co_return false;
    bucket_.write(key, value);
    co_return true;
  }
  asio::awaitable<void> put(std::string key, std::string value) override {
    co_await turn();
    bucket_.write(key, value);
  }
  asio::awaitable<std::optional<Entry>> get(std::string key) override {
    co_await turn();
    const auto it = bucket_.entries.find(key);
    if (it == bucket_.entries.end()) co_return std::nullopt;
    co_return it->second;
  }
  void send(std::string node, std::string payload) override {
    const auto it = bucket_.nodes.find(node);
    if (!bucket_.reachable || it == bucket_.nodes.end()) return;
    ClusterDirectory* target = it->second;
    asio::post(bucket_.io, [target, payload] { target->on_direct(payload); });
  }

 private:
  // Every store operation takes at least one turn of the loop, and fails when unreachable.
  asio::awaitable<void> turn() {
    const auto executor = co_await asio::this_coro::executor;
    co_await asio::post(executor, asio::use_awaitable);
    if (!bucket_.reachable) throw std::runtime_error("unreachable");
  }
  ModelBucket& bucket_;
};

class DirectoryTest : public testing::Test {
 protected:
  DirectoryTest()
      : hub_a_(suffixes({0xa001, 0xa002, 0xa003})),
        hub_b_(suffixes({0xb001, 0xb002, 0xb003})),
        store_a_(bucket_),
        store_b_(bucket_),
        dir_a_(io_.get_executor(), store_a_, hub_a_, "a", "pa", [this] { return now_; }),
        dir_b_(io_.get_executor(), store_b_, hub_b_, "b", "pb", [this] { return now_; }) {
    hub_a_.set_directory(&dir_a_);
    hub_b_.set_directory(&dir_b_);
    bucket_.readers = {&dir_a_, &dir_b_};
    bucket_.nodes = {{"a", &dir_a_}, {"b", &dir_b_}};
  }

  // Runs the loop until every node is idle (bounded: the model never loops by itself).
  void settle() {
    io_.restart();
    io_.run();
  }

  void send(Hub& hub, SessionId id, req::Body body, RequestId rid = RequestId{std::int64_t{1}}) {
    hub.handle(id, req::Request{std::move(rid), std::move(body)}, kNowWall);
    settle();
  }

  // alice on node a (session 1), bob on node b (session 1: the same number, another node).
  void alice_and_bob() {
    hub_a_.attach(1, alice_, "");
    hub_b_.attach(1, bob_, "");
    settle();
    send(hub_a_, 1, req::Nick{"alice"});
    send(hub_b_, 1, req::Nick{"bob"});
    alice_.clear();
    bob_.clear();
  }

  static inline const auto kNowWall = std::chrono::system_clock::time_point{} + seconds(1714564800);

  asio::io_context io_;
  ModelBucket bucket_{io_, {}, 0, {}, {}, true, 0};
  Hub hub_a_, hub_b_;
  ModelStore store_a_, store_b_;
  steady_clock::time_point now_ = kStart;
  ClusterDirectory dir_a_, dir_b_;
  FakeMember alice_, bob_, carol_;
};

TEST_F(DirectoryTest, ANickHeldOnOneNodeIsTakenOnTheOther) {
  alice_and_bob();
  send(hub_b_, 1, req::Nick{"ALICE"}, RequestId{std::int64_t{5}});
  const auto error = bob_.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::nick_taken);
  EXPECT_EQ(error.id, RequestId{std::int64_t{5}});
  EXPECT_EQ(hub_b_.nick_of(1), "bob");

  // Freed by a nick change (a tombstone), then by a quit: each time bob may take it.
  send(hub_a_, 1, req::Nick{"alicia"});
  bob_.clear();
  send(hub_b_, 1, req::Nick{"alice"}, RequestId{std::int64_t{6}});
  EXPECT_EQ(bob_.only<evt::Ack>().id, RequestId{std::int64_t{6}});
  EXPECT_EQ(hub_b_.nick_of(1), "alice");
  send(hub_a_, 1, req::Nick{"bob"}, RequestId{std::int64_t{7}});
  EXPECT_EQ(hub_a_.nick_of(1), "bob") << "bob's old nick was freed by its move";
  hub_a_.detach(1, "bye");
  settle();
  send(hub_b_, 1, req::Nick{"bob"}, RequestId{std::int64_t{8}});
  EXPECT_EQ(hub_b_.nick_of(1), "bob");
}

TEST_F(DirectoryTest, PresenceReachesMembersOnTheOtherNode) {
  alice_and_bob();
  send(hub_b_, 1, req::Join{"dev"});
  bob_.clear();
  send(hub_a_, 1, req::Join{"Dev"});
  const auto joined = bob_.only<evt::Joined>();
  EXPECT_EQ(joined.nick, "alice");
  EXPECT_EQ(joined.room, "dev") << "named as the room is named where it is told";
  EXPECT_EQ(alice_.all<evt::Ack>().size(), 1u);

  bob_.clear();
  send(hub_a_, 1, req::Nick{"alicia"});
  const auto nick = bob_.only<evt::NickChanged>();
  EXPECT_EQ(nick.old_nick, "alice");
  EXPECT_EQ(nick.new_nick, "alicia");

  bob_.clear();
  send(hub_a_, 1, req::Part{"dev"});
  EXPECT_EQ(bob_.only<evt::Parted>().nick, "alicia");

  send(hub_a_, 1, req::Join{"dev"});
  bob_.clear();
  hub_a_.detach(1, "off to lunch");
  settle();
  const auto quit = bob_.only<evt::Quit>();
  EXPECT_EQ(quit.nick, "alicia");
  EXPECT_EQ(quit.reason, "off to lunch");
}

TEST_F(DirectoryTest, WhoAndRoomsAnswerForTheWholeCluster) {
  alice_and_bob();
  hub_a_.attach(2, carol_, "");
  settle();
  send(hub_a_, 2, req::Nick{"carol"});
  send(hub_a_, 1, req::Join{"dev"});
  send(hub_a_, 2, req::Join{"dev"});
  send(hub_a_, 1, req::Join{"ops"});
  send(hub_b_, 1, req::Join{"dev"});
  send(hub_b_, 1, req::Join{"zoo"});
  bob_.clear();
  send(hub_b_, 1, req::Who{"DEV", std::nullopt, std::nullopt});
  const auto who = bob_.only<evt::Who>();
  EXPECT_EQ(who.room, "dev");
  EXPECT_EQ(who.nicks, (std::vector<std::string>{"alice", "bob", "carol"}));
  bob_.clear();
  send(hub_b_, 1, req::Who{"ops", std::nullopt, std::nullopt});
  EXPECT_EQ(bob_.only<evt::Who>().nicks, std::vector<std::string>{"alice"})
      << "a room with no member on this node";
  bob_.clear();
  send(hub_b_, 1, req::Rooms{std::nullopt, std::nullopt});
  const auto rooms = bob_.only<evt::Rooms>().rooms;
  ASSERT_EQ(rooms.size(), 3u);
  EXPECT_EQ(rooms[0].name, "dev");
  EXPECT_EQ(rooms[0].members, 3u);
  EXPECT_EQ(rooms[1].name, "ops");
  EXPECT_EQ(rooms[1].members, 1u);
  EXPECT_EQ(rooms[2].name, "zoo");
  EXPECT_EQ(rooms[2].members, 1u);
  // Pages merge both nodes' rooms in one order.
  bob_.clear();
  send(hub_b_, 1, req::Rooms{std::string("dev"), std::uint64_t{1}});
  const auto page = bob_.only<evt::Rooms>();
  ASSERT_EQ(page.rooms.size(), 1u);
  EXPECT_EQ(page.rooms[0].name, "ops");
  EXPECT_EQ(page.next, "ops");
}

TEST_F(DirectoryTest, ADirectMessageReachesANickOnTheOtherNode) {
  alice_and_bob();
  send(hub_b_, 1, req::Msg{"Alice", "psst"}, RequestId{std::int64_t{9}});
  EXPECT_EQ(bob_.only<evt::Ack>().id, RequestId{std::int64_t{9}});
  const auto direct = alice_.only<evt::Direct>();
  EXPECT_EQ(direct.from, "bob");
  EXPECT_EQ(direct.text, "psst");
  bob_.clear();
  send(hub_b_, 1, req::Msg{"nobody", "x"});
  EXPECT_EQ(bob_.only<evt::Error>().code, ErrorCode::no_such_nick);
  // Sent to a nick that moved on before it arrived: dropped, never delivered to another.
  bob_.clear();
  alice_.clear();
  const auto* remote = dir_b_.remote().holder("alice");
  ASSERT_NE(remote, nullptr);
  const RemoteSession stale = *remote;
  hub_a_.detach(1, "gone");
  hub_a_.attach(1, carol_, "");  // the same session number, another session
  dir_b_.send_direct(stale, R"({"type":"direct","from":"bob","text":"late","ts":"x"})");
  settle();
  EXPECT_TRUE(carol_.delivered.empty());
}

TEST_F(DirectoryTest, ANodeThatStopsRefreshingIsGoneAfterTheTtl) {
  alice_and_bob();
  send(hub_a_, 1, req::Join{"dev"});
  send(hub_b_, 1, req::Join{"dev"});
  bob_.clear();
  // Node a dies: it writes nothing more; node b goes on refreshing its own.
  bucket_.readers = {&dir_b_};
  for (int i = 0; i < 3; ++i) {
    now_ += kDirectoryRefresh;
    dir_b_.refresh();
    dir_b_.expire();
    settle();
  }
  EXPECT_TRUE(bob_.delivered.empty()) << "bob's own refreshes are not news";
  now_ += seconds(1);
  dir_b_.expire();
  const auto quit = bob_.only<evt::Quit>();
  EXPECT_EQ(quit.nick, "alice");
  EXPECT_EQ(quit.reason, kNodeLostReason);
  bob_.clear();
  send(hub_b_, 1, req::Who{"dev", std::nullopt, std::nullopt});
  EXPECT_EQ(bob_.only<evt::Who>().nicks, std::vector<std::string>{"bob"});
}

TEST_F(DirectoryTest, TwoNodesGivingOutOneGuestNickEndWithTwo) {
  Hub hub_c(suffixes({0xa001}));  // node c's generator repeats node a's first guest nick
  ModelStore store_c(bucket_);
  ClusterDirectory dir_c(io_.get_executor(), store_c, hub_c, "c", "pc", [this] { return now_; });
  hub_c.set_directory(&dir_c);
  bucket_.readers.push_back(&dir_c);
  EXPECT_EQ(hub_a_.attach(1, alice_, ""), "guest-a001");
  EXPECT_EQ(hub_c.attach(1, carol_, ""), "guest-a001");
  settle();
  // Node a claimed it first; node c's session was renamed and told.
  EXPECT_EQ(hub_a_.nick_of(1), "guest-a001");
  const auto renamed = carol_.only<evt::NickChanged>();
  EXPECT_EQ(renamed.old_nick, "guest-a001");
  EXPECT_NE(renamed.new_nick, "guest-a001");
  EXPECT_EQ(hub_c.nick_of(1), renamed.new_nick);
  EXPECT_EQ(dir_a_.remote().holder(fold_name(renamed.new_nick))->node, "c");
  EXPECT_EQ(dir_c.remote().holder("guest-a001")->node, "a");
  hub_c.set_directory(nullptr);
}

TEST_F(DirectoryTest, CutOffFromTheClusterRequestsThatNeedItAreUnavailable) {
  alice_and_bob();
  dir_b_.set_available(false);
  for (req::Body body :
       std::vector<req::Body>{req::Join{"dev"}, req::Nick{"robert"}, req::Msg{"alice", "x"}}) {
    bob_.clear();
    send(hub_b_, 1, body);
    EXPECT_EQ(bob_.only<evt::Error>().code, ErrorCode::unavailable);
  }
  // The store failing under a claim: unavailable too, and the nick stays as it was.
  dir_b_.set_available(true);
  bucket_.reachable = false;
  bob_.clear();
  send(hub_b_, 1, req::Nick{"robert"});
  EXPECT_EQ(bob_.only<evt::Error>().code, ErrorCode::unavailable);
  EXPECT_EQ(hub_b_.nick_of(1), "bob");
  bucket_.reachable = true;
  bob_.clear();
  send(hub_b_, 1, req::Nick{"robert"});
  EXPECT_EQ(bob_.only<evt::Ack>().id, RequestId{std::int64_t{1}});
}

TEST_F(DirectoryTest, ASessionEndingWhileItsClaimIsInFlightFreesTheNick) {
  alice_and_bob();
  hub_a_.handle(1, req::Request{RequestId{std::int64_t{3}}, req::Nick{"zed"}}, kNowWall);
  hub_a_.detach(1, "gone");  // before the claim's answer
  settle();
  send(hub_b_, 1, req::Nick{"zed"}, RequestId{std::int64_t{4}});
  EXPECT_EQ(bob_.all<evt::Ack>().size(), 1u) << "the claim's nick was freed again";
  EXPECT_EQ(hub_b_.nick_of(1), "zed");
  EXPECT_EQ(dir_b_.remote().size(), 0u);
}

TEST_F(DirectoryTest, EveryWriteOfASessionIsQueuedOnce) {
  alice_and_bob();
  const std::size_t before = bucket_.writes;
  for (int i = 0; i < 50; ++i) {
    dir_a_.refresh();
    dir_a_.changed(1);
  }
  EXPECT_LE(dir_a_.queued(), 1u);
  settle();
  EXPECT_EQ(bucket_.writes, before + 1);
}

TEST_F(DirectoryTest, ANickChangeDoesNotWaitBehindARefresh) {
  alice_and_bob();
  std::vector<std::unique_ptr<FakeMember>> crowd;
  for (SessionId id = 10; id < 60; ++id)
    hub_a_.attach(id, *crowd.emplace_back(std::make_unique<FakeMember>()), "");
  settle();
  dir_a_.refresh();  // 51 writes queued
  const std::size_t before = bucket_.writes;
  hub_a_.handle(1, req::Request{RequestId{std::int64_t{4}}, req::Nick{"zed"}}, kNowWall);
  io_.restart();
  for (int turn = 0; turn < 1000 && alice_.all<evt::Ack>().empty(); ++turn)
    io_.run_one();
  ASSERT_EQ(alice_.all<evt::Ack>().size(), 1u);
  EXPECT_LE(bucket_.writes - before, 2u) << "the claim went ahead of the refresh";
  settle();
}

}  // namespace
}  // namespace parley::server
