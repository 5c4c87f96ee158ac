// The cluster's pure pieces (docs/cluster.md): room subjects, the stored message's encoding,
// and the per-room sequencer, including two nodes proposing against one simulated JetStream.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "cluster_wire.hpp"
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

}  // namespace
}  // namespace parley::server
