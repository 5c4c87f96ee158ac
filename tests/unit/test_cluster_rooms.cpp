// The cluster's pure pieces (docs/cluster.md): room subjects, the stored message's encoding,
// and the per-room sequencer, including two nodes proposing against one simulated JetStream.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <random>

#include "cluster_rooms.hpp"
#include "cluster_wire.hpp"
#include "parley/event.hpp"
#include "room_sequencer.hpp"

namespace parley::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

TEST(ClusterWire, RoomSubjectsAreHexAndComeBack) {
  EXPECT_EQ(room_subject("parley", "dev"), "parley.room.646576");
  EXPECT_EQ(room_subject_wildcard("parley"), "parley.room.*");
  for (const std::string& room :
       std::vector<std::string>{"dev", "a.b", "x_-.9", std::string(32, 'z')})
    EXPECT_EQ(room_of_subject("parley", room_subject("parley", room)), room) << room;
}

TEST(ClusterWire, OnlyOurOwnRoomSubjectsAreRead) {
  EXPECT_FALSE(room_of_subject("parley", "other.room.646576"));
  EXPECT_FALSE(room_of_subject("parley", "parley.nick.646576"));
  EXPECT_FALSE(room_of_subject("parley", "parley.room."));
  EXPECT_FALSE(room_of_subject("parley", "parley.room.64657"));   // odd length
  EXPECT_FALSE(room_of_subject("parley", "parley.room.64657g"));  // not hex
  EXPECT_FALSE(room_of_subject("parley", "parley.room.444556"));  // "DEV": not folded
  EXPECT_FALSE(room_of_subject("parley", "parley.room.20"));      // " ": not a name
  EXPECT_FALSE(room_of_subject("parley", "parley.room." + std::string(66, 'a')));  // 33 bytes
}

ClusterMessage sample() {
  ClusterMessage message;
  message.seq = 42;
  message.from = "alice";
  message.text = "h\xc3\xa9llo \"quoted\"\n";
  message.action = true;
  message.at = system_clock::time_point(milliseconds(1764500000123));
  message.node = "a";
  message.session = 7;
  return message;
}

TEST(ClusterWire, AStoredMessageRoundTrips) {
  const ClusterMessage message = sample();
  EXPECT_EQ(decode_cluster_message(encode(message)), message);
  ClusterMessage plain = message;
  plain.action = false;
  plain.seq = 0;
  EXPECT_EQ(encode(plain).find("action"), std::string::npos);
  EXPECT_EQ(decode_cluster_message(encode(plain)), plain);
}

TEST(ClusterWire, AnythingElseIsRefusedWhole) {
  const std::string good = encode(sample());
  EXPECT_TRUE(decode_cluster_message(good));
  for (const std::string& bad : std::vector<std::string>{
           std::string(""),
           std::string("[]"),
           std::string("{\"v\":2,\"seq\":1,\"from\":\"a\",\"text\":\"t\",\"at_ms\":1,\"node\":"
                       "\"a\",\"session\":1}"),
           std::string("{\"v\":1,\"seq\":-1,\"from\":\"a\",\"text\":\"t\",\"at_ms\":1,\"node\":"
                       "\"a\",\"session\":1}"),
           std::string("{\"v\":1,\"seq\":1,\"from\":\"a b\",\"text\":\"t\",\"at_ms\":1,\"node\":"
                       "\"a\",\"session\":1}"),
           std::string("{\"v\":1,\"seq\":1,\"from\":\"a\",\"text\":7,\"at_ms\":1,\"node\":\"a\","
                       "\"session\":1}"),
           std::string("{\"v\":1,\"seq\":1,\"from\":\"a\",\"text\":\"t\",\"node\":\"a\","
                       "\"session\":1}"),
           std::string("{\"v\":1,\"seq\":1,\"from\":\"a\",\"text\":\"\xff\",\"at_ms\":1,\"node\":"
                       "\"a\",\"session\":1}"),
           good.substr(0, good.size() - 1),
           std::string(300 * 1024, ' '),
       })
    EXPECT_FALSE(decode_cluster_message(bad)) << bad.substr(0, 80);
}

PendingSay say_from(std::uint64_t session, std::string text) {
  PendingSay say;
  say.session = session;
  say.request = RequestId{static_cast<std::int64_t>(session)};
  say.message.from = "n" + std::to_string(session);
  say.message.text = std::move(text);
  return say;
}

TEST(RoomSequencer, TheFirstMessageOfAnEmptySubjectTakesItsStreamSequence) {
  RoomSequencer room(8);
  ASSERT_TRUE(room.enqueue(say_from(1, "a")));
  EXPECT_FALSE(room.next()) << "the tip must be read first";
  room.learn(std::nullopt);
  const auto first = room.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->message.seq, 0u);
  EXPECT_FALSE(first->expect_last_subject_seq);
  const auto [say, seq] = room.stored(1000);
  EXPECT_EQ(seq, 1000u);
  EXPECT_EQ(say.message.seq, 1000u);
  EXPECT_EQ(say.message.text, "a");

  ASSERT_TRUE(room.enqueue(say_from(2, "b")));
  const auto second = room.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->message.seq, 1001u);
  EXPECT_EQ(second->expect_last_subject_seq, 1000u);
  EXPECT_EQ(room.stored(1005).second, 1001u);
}

TEST(RoomSequencer, OneProposalInFlightAtATime) {
  RoomSequencer room(8);
  room.learn(SubjectTip{10, 3});
  ASSERT_TRUE(room.enqueue(say_from(1, "a")));
  ASSERT_TRUE(room.enqueue(say_from(2, "b")));
  ASSERT_TRUE(room.next());
  EXPECT_TRUE(room.in_flight());
  EXPECT_FALSE(room.next());
  EXPECT_EQ(room.stored(11).second, 4u);
  const auto next = room.next();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->message.seq, 5u);
  EXPECT_EQ(next->message.text, "b");
}

TEST(RoomSequencer, ItsOwnMessageSeenBeforeThePublishAckChangesNothing) {
  RoomSequencer room(8);
  room.learn(SubjectTip{10, 3});
  ASSERT_TRUE(room.enqueue(say_from(1, "a")));
  ASSERT_TRUE(room.next());
  room.observe(SubjectTip{11, 4});  // the consumer brought it back first
  EXPECT_EQ(room.stored(11).second, 4u);
  ASSERT_TRUE(room.enqueue(say_from(2, "b")));
  EXPECT_EQ(room.next()->message.seq, 5u);
}

TEST(RoomSequencer, AConflictWaitsForARead) {
  RoomSequencer room(8);
  room.learn(SubjectTip{10, 3});
  ASSERT_TRUE(room.enqueue(say_from(1, "a")));
  ASSERT_TRUE(room.next());
  room.conflict();
  EXPECT_EQ(room.waiting(), 1u) << "the say stays queued";
  room.observe(SubjectTip{12, 4});
  EXPECT_FALSE(room.next()) << "an observation does not replace the read";
  room.learn(SubjectTip{11, 4});  // older than what was observed meanwhile
  const auto retry = room.next();
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->message.seq, 5u);
  EXPECT_EQ(retry->expect_last_subject_seq, 12u);
}

TEST(RoomSequencer, AnExpiredSubjectIsLearnedEmpty) {
  RoomSequencer room(8);
  room.learn(SubjectTip{10, 3});
  ASSERT_TRUE(room.enqueue(say_from(1, "a")));
  ASSERT_TRUE(room.next());
  room.conflict();
  room.learn(std::nullopt);  // its messages aged out of the stream
  const auto retry = room.next();
  ASSERT_TRUE(retry);
  EXPECT_FALSE(retry->expect_last_subject_seq);
  EXPECT_EQ(room.stored(50).second, 50u) << "above every seq issued before: never back";
}

TEST(RoomSequencer, TheQueueIsBoundedAndFailuresGiveUpTheFront) {
  RoomSequencer room(2);
  room.learn(std::nullopt);
  EXPECT_TRUE(room.enqueue(say_from(1, "a")));
  EXPECT_TRUE(room.enqueue(say_from(2, "b")));
  EXPECT_FALSE(room.enqueue(say_from(3, "c")));
  ASSERT_TRUE(room.next());
  EXPECT_EQ(room.failed().session, 1u);
  EXPECT_FALSE(room.tip_known()) << "after a failure the subject is read again";
  EXPECT_EQ(room.waiting(), 1u);
  room.learn(std::nullopt);
  ASSERT_TRUE(room.next());
  const auto dropped = room.drop_all();
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped.front().session, 2u);
  EXPECT_FALSE(room.in_flight());
}

// Two nodes proposing in one room against a model of JetStream's expected-last-subject-sequence
// check, in a random interleaving: every stored message has a distinct room seq, one more than
// the last, and every say is stored once.
TEST(RoomSequencer, TwoNodesAgreeThroughTheStore) {
  struct Stored {
    std::uint64_t stream_seq;
    std::uint64_t room_seq;
  };
  std::vector<Stored> subject;
  std::uint64_t stream_seq = 500;  // other subjects used the stream before
  auto last = [&]() -> std::optional<SubjectTip> {
    if (subject.empty()) return std::nullopt;
    return SubjectTip{subject.back().stream_seq, subject.back().room_seq};
  };
  std::mt19937 rng(7);
  std::array<RoomSequencer, 2> nodes{RoomSequencer(1000), RoomSequencer(1000)};
  std::array<std::optional<Proposal>, 2> flying;
  constexpr int kSaysPerNode = 200;
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < kSaysPerNode; ++i)
      ASSERT_TRUE(nodes[n].enqueue(say_from(static_cast<std::uint64_t>(n * 1000 + i), "m")));
  std::size_t acked = 0;
  for (int step = 0; step < 100000 && acked < 2 * kSaysPerNode; ++step) {
    const int n = static_cast<int>(rng() % 2);
    RoomSequencer& node = nodes[n];
    if (!node.tip_known()) {
      node.learn(last());
    } else if (!flying[n]) {
      flying[n] = node.next();
    } else {
      // JetStream's check, then the publish ack.
      const auto tip = last();
      const bool matches = flying[n]->expect_last_subject_seq
                               ? tip && tip->stream_seq == *flying[n]->expect_last_subject_seq
                               : !tip;
      if (!matches) {
        node.conflict();
      } else {
        ++stream_seq;
        const std::uint64_t seq = resolved_seq(flying[n]->message, stream_seq);
        subject.push_back(Stored{stream_seq, seq});
        nodes[1 - n].observe(SubjectTip{stream_seq, seq});
        EXPECT_EQ(node.stored(stream_seq).second, seq);
        ++acked;
      }
      flying[n].reset();
    }
  }
  ASSERT_EQ(acked, 2u * kSaysPerNode);
  ASSERT_EQ(subject.size(), 2u * kSaysPerNode);
  EXPECT_EQ(subject.front().room_seq, 501u);
  for (std::size_t i = 1; i < subject.size(); ++i)
    EXPECT_EQ(subject[i].room_seq, subject[i - 1].room_seq + 1) << i;
}

namespace asio = boost::asio;

// JetStream as ClusterRooms sees it: one stream, the expected-last-subject check, and every
// stored message handed to each node's consumer in stream order (posted, as the link does).
class ModelStore : public RoomStore {
 public:
  explicit ModelStore(asio::io_context& io) : io_(io) {}

  asio::awaitable<std::uint64_t> publish(std::string subject, std::string data,
                                         std::optional<std::uint64_t> expect_last) override {
    // A round trip: other coroutines run meanwhile, as with a real store.
    co_await asio::post(io_, asio::use_awaitable);
    if (down) throw std::runtime_error("no NATS");
    const auto last = last_of(subject);
    const bool matches = expect_last ? last && last->stream_seq == *expect_last : !last;
    if (!matches) throw WrongLastSequence("wrong last sequence");
    const std::uint64_t seq = ++stream_seq_;
    stored_.push_back({subject, Stored{data, seq}});
    for (auto* consumer : consumers)
      asio::post(io_, [consumer, subject, data, seq] { consumer->on_stored(subject, data, seq); });
    co_return seq;
  }

  asio::awaitable<std::optional<Stored>> last(std::string subject) override {
    co_await asio::post(io_, asio::use_awaitable);
    if (down) throw std::runtime_error("no NATS");
    co_return last_of(subject);
  }

  std::vector<ClusterRooms*> consumers;
  bool down = false;
  std::vector<std::pair<std::string, Stored>> stored_;

 private:
  std::optional<Stored> last_of(const std::string& subject) const {
    for (auto it = stored_.rbegin(); it != stored_.rend(); ++it)
      if (it->first == subject) return it->second;
    return std::nullopt;
  }

  asio::io_context& io_;
  std::uint64_t stream_seq_ = 100;
};

struct RecordingMember : Member {
  std::vector<evt::Event> events;
  void deliver(std::string_view json) override {
    auto parsed = evt::parse(json);
    ASSERT_TRUE(std::holds_alternative<evt::Event>(parsed)) << json;
    events.push_back(std::get<evt::Event>(parsed));
  }
  std::size_t max_event_bytes() const override { return 65000; }
  std::size_t reply_budget_bytes() const override { return 500000; }
  void end_session(StatusCode, std::string_view) override {}

  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& event : events)
      if (const auto* typed = std::get_if<T>(&event)) out.push_back(*typed);
    return out;
  }
};

// One node: a hub with two members in "dev", and its replicator.
struct Node {
  Node(asio::io_context& io, ModelStore& store, std::string name)
      : hub([] { return std::uint16_t{1}; }), rooms(io.get_executor(), store, hub, "parley", 4, [] {
          return std::chrono::system_clock::time_point{};
        }) {
    hub.set_replicator(&rooms, std::move(name));
    store.consumers.push_back(&rooms);
    hub.attach(1, talker, "");
    hub.attach(2, listener, "");
    hub.handle(1, req::Request{RequestId{}, req::Join{"dev"}}, {});
    hub.handle(2, req::Request{RequestId{}, req::Join{"dev"}}, {});
  }
  void say(std::int64_t id) {
    hub.handle(1, req::Request{RequestId{id}, req::Say{"dev", "m" + std::to_string(id)}}, {});
  }
  Hub hub;
  ClusterRooms rooms;
  RecordingMember talker, listener;
};

TEST(ClusterRooms, TwoNodesSayInOneRoomAndEveryMemberSeesOneOrder) {
  asio::io_context io;
  ModelStore store(io);
  Node a(io, store, "a"), b(io, store, "b");
  // Four says in flight per node at most (the room's queue): 4 then 4 more once those are done.
  for (std::int64_t i = 1; i <= 4; ++i) {
    a.say(i);
    b.say(100 + i);
  }
  io.run();
  for (std::int64_t i = 5; i <= 8; ++i) {
    a.say(i);
    b.say(100 + i);
  }
  io.restart();
  io.run();
  ASSERT_EQ(store.stored_.size(), 16u);
  EXPECT_GT(a.rooms.stats().conflicts + b.rooms.stats().conflicts, 0u) << "they did compete";
  // The listeners (who never speak) on both nodes saw all 16, in one order, seq one by one.
  const auto seen_a = a.listener.all<evt::Message>();
  const auto seen_b = b.listener.all<evt::Message>();
  ASSERT_EQ(seen_a.size(), 16u);
  EXPECT_EQ(seen_a, seen_b);
  for (std::size_t i = 1; i < seen_a.size(); ++i)
    EXPECT_EQ(seen_a[i].seq, seen_a[i - 1].seq + 1);
  EXPECT_EQ(seen_a.front().seq, 101u) << "the subject's first takes its stream sequence";
  // Each talker got an ack with its message's seq, and the other node's 8 messages only.
  for (Node* node : {&a, &b}) {
    const auto acks = node->talker.all<evt::Ack>();
    ASSERT_EQ(acks.size(), 8u);
    const auto others = node->talker.all<evt::Message>();
    ASSERT_EQ(others.size(), 8u);
    for (const auto& ack : acks) {
      const auto own = std::find_if(seen_a.begin(), seen_a.end(),
                                    [&](const evt::Message& m) { return m.seq == ack.seq; });
      ASSERT_NE(own, seen_a.end());
      EXPECT_EQ(own->text, "m" + std::to_string(std::get<std::int64_t>(ack.id)));
    }
  }
}

TEST(ClusterRooms, AFullQueueAndAStoreThatIsDownAreRefused) {
  asio::io_context io;
  ModelStore store(io);
  Node a(io, store, "a");
  for (std::int64_t i = 1; i <= 5; ++i)
    a.say(i);  // the fifth finds the queue (4) full
  const auto refused = a.talker.all<evt::Error>();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused.front().code, ErrorCode::unavailable);
  EXPECT_EQ(refused.front().id, RequestId{std::int64_t{5}});
  store.down = true;
  io.run();
  EXPECT_EQ(a.talker.all<evt::Error>().size(), 5u) << "each waiting say is answered";
  EXPECT_TRUE(a.talker.all<evt::Ack>().empty());
  EXPECT_TRUE(a.listener.all<evt::Message>().empty());
  EXPECT_EQ(a.rooms.rooms_waiting(), 0u);
  store.down = false;
  a.say(6);
  io.restart();
  io.run();
  EXPECT_EQ(a.talker.all<evt::Ack>().size(), 1u) << "it recovers with the store";
  EXPECT_EQ(a.listener.all<evt::Message>().size(), 1u);
}

TEST(ClusterRooms, RefusingAllAnswersEverySayOnceEvenWithOneInFlight) {
  asio::io_context io;
  ModelStore store(io);
  Node a(io, store, "a");
  for (std::int64_t i = 1; i <= 3; ++i)
    a.say(i);
  io.poll_one();  // the pump starts its read of the tip
  a.rooms.refuse_all("the cluster is unreachable");
  io.run();
  EXPECT_EQ(a.talker.all<evt::Error>().size(), 3u);
  EXPECT_TRUE(a.talker.all<evt::Ack>().empty());
  EXPECT_EQ(a.rooms.rooms_waiting(), 0u);
}

TEST(ClusterRooms, StrayMessagesOnTheStreamAreSkipped) {
  asio::io_context io;
  ModelStore store(io);
  Node a(io, store, "a");
  a.rooms.on_stored("parley.room.zz", "{}", 5);
  a.rooms.on_stored(room_subject("parley", "dev"), "not json", 6);
  EXPECT_EQ(a.rooms.stats().skipped, 2u);
  EXPECT_TRUE(a.listener.all<evt::Message>().empty());
}

}  // namespace
}  // namespace parley::server
