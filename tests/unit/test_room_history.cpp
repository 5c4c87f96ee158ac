// Room history's store (PROTOCOL.md 6.4): the count, age and byte bounds, global oldest-first
// eviction, and what a slice says about itself (more, complete). Time is injected.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "room_history.hpp"

namespace parley::server {
namespace {

using std::chrono::seconds;
const RoomHistory::TimePoint kStart = RoomHistory::TimePoint{} + seconds{1714564800};

StoredMessage message(std::uint64_t seq, RoomHistory::TimePoint at, std::string text = "hi") {
  return StoredMessage{seq, at, "alice", std::move(text), false};
}

std::vector<std::uint64_t> seqs(const RoomHistory::Slice& slice) {
  std::vector<std::uint64_t> out;
  for (const StoredMessage* m : slice.messages)
    out.push_back(m->seq);
  return out;
}

HistoryLimits limits(std::size_t messages, seconds max_age = seconds{3600},
                     std::size_t max_bytes = std::size_t{1} << 20) {
  return HistoryLimits{messages, max_age, max_bytes};
}

TEST(RoomHistory, KeepsTheLastMessagesUpToTheCount) {
  RoomHistory history(limits(3));
  for (std::uint64_t seq = 1; seq <= 5; ++seq)
    history.record("lobby", message(seq, kStart), kStart);
  EXPECT_EQ(history.messages(), 3u);
  const auto all = history.slice("lobby", 0, 100, 5, kStart);
  EXPECT_EQ(seqs(all), (std::vector<std::uint64_t>{3, 4, 5}));
  EXPECT_FALSE(all.complete) << "1 and 2 were evicted";
  EXPECT_FALSE(all.more);
  const auto from_two = history.slice("lobby", 2, 100, 5, kStart);
  EXPECT_EQ(seqs(from_two), (std::vector<std::uint64_t>{3, 4, 5}));
  EXPECT_TRUE(from_two.complete) << "nothing after 2 was evicted";
  EXPECT_EQ(history.last_seq("lobby"), 5u);
}

TEST(RoomHistory, AfterGivesTheOldestLimitAndMore) {
  RoomHistory history(limits(100));
  for (std::uint64_t seq = 1; seq <= 10; ++seq)
    history.record("lobby", message(seq, kStart), kStart);
  const auto first = history.slice("lobby", 0, 4, 10, kStart);
  EXPECT_EQ(seqs(first), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(first.more);
  EXPECT_TRUE(first.complete);
  const auto last = history.slice("lobby", 8, 4, 10, kStart);
  EXPECT_EQ(seqs(last), (std::vector<std::uint64_t>{9, 10}));
  EXPECT_FALSE(last.more);
  const auto none = history.slice("lobby", 10, 4, 10, kStart);
  EXPECT_TRUE(none.messages.empty());
  EXPECT_FALSE(none.more);
  EXPECT_TRUE(none.complete);
}

TEST(RoomHistory, WithoutAfterGivesTheNewest) {
  RoomHistory history(limits(100));
  for (std::uint64_t seq = 1; seq <= 10; ++seq)
    history.record("lobby", message(seq, kStart), kStart);
  const auto newest = history.slice("lobby", std::nullopt, 3, 10, kStart);
  EXPECT_EQ(seqs(newest), (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_FALSE(newest.more) << "nothing stored after 10";
  EXPECT_TRUE(newest.complete) << "nothing was ever evicted";

  history.set_limits(limits(5), kStart);
  const auto after_eviction = history.slice("lobby", std::nullopt, 3, 10, kStart);
  EXPECT_EQ(seqs(after_eviction), (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_FALSE(after_eviction.complete) << "older messages were evicted";
}

TEST(RoomHistory, MessagesOlderThanMaxAgeGo) {
  RoomHistory history(limits(100, seconds{60}));
  history.record("lobby", message(1, kStart), kStart);
  history.record("lobby", message(2, kStart + seconds{30}), kStart + seconds{30});
  history.record("other", message(7, kStart + seconds{40}), kStart + seconds{40});

  // A read expires its room lazily.
  const auto read = history.slice("lobby", 0, 100, 2, kStart + seconds{61});
  EXPECT_EQ(seqs(read), (std::vector<std::uint64_t>{2}));
  EXPECT_FALSE(read.complete);

  // The sweep reaches rooms nobody touches; a room whose last message goes is dropped.
  history.expire(kStart + seconds{100});
  EXPECT_EQ(history.messages(), 0u);
  EXPECT_EQ(history.rooms(), 0u);
  EXPECT_EQ(history.bytes(), 0u);
  EXPECT_EQ(history.last_seq("lobby"), std::nullopt);
  EXPECT_FALSE(history.slice("lobby", 0, 100, 2, kStart + seconds{100}).complete)
      << "a room whose record was dropped cannot vouch for its past";
  EXPECT_TRUE(history.slice("lobby", 2, 100, 2, kStart + seconds{100}).complete)
      << "nothing after the room's last seq exists";

  // Writing expires the room's own old messages too.
  history.record("other", message(8, kStart + seconds{200}), kStart + seconds{200});
  EXPECT_EQ(history.messages(), 1u);
}

TEST(RoomHistory, TheByteBudgetEvictsTheGloballyOldestFirst) {
  const std::string text(1000, 'x');
  const StoredMessage sample = message(1, kStart, text);
  const std::size_t per_message = RoomHistory::cost(sample);
  const std::size_t per_room = RoomHistory::kRoomOverhead + 1;  // one-letter room keys
  // Room for two rooms and exactly five messages.
  RoomHistory history(limits(100, seconds{3600}, 2 * per_room + 5 * per_message));
  history.record("a", message(1, kStart, text), kStart);
  history.record("b", message(1, kStart, text), kStart);
  history.record("a", message(2, kStart, text), kStart);
  history.record("b", message(2, kStart, text), kStart);
  history.record("a", message(3, kStart, text), kStart);
  EXPECT_EQ(history.messages(), 5u);
  EXPECT_EQ(history.bytes(), 2 * per_room + 5 * per_message);

  history.record("b", message(3, kStart, text), kStart);  // a:1, the oldest, goes
  EXPECT_EQ(seqs(history.slice("a", 0, 100, 3, kStart)), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(seqs(history.slice("b", 0, 100, 3, kStart)), (std::vector<std::uint64_t>{1, 2, 3}));
  history.record("b", message(4, kStart, text), kStart);  // then b:1
  EXPECT_EQ(seqs(history.slice("b", 0, 100, 4, kStart)), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_FALSE(history.slice("b", 0, 100, 4, kStart).complete);
  EXPECT_TRUE(history.slice("b", 1, 100, 4, kStart).complete);
  EXPECT_LE(history.bytes(), 2 * per_room + 5 * per_message);

  // A lower budget on reload evicts at once, oldest first, and drops emptied rooms.
  history.set_limits(limits(100, seconds{3600}, per_room + 2 * per_message), kStart);
  EXPECT_EQ(history.rooms(), 1u);
  EXPECT_EQ(history.last_seq("a"), std::nullopt);
  EXPECT_EQ(seqs(history.slice("b", 0, 100, 4, kStart)), (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(history.bytes(), per_room + 2 * per_message);
}

TEST(RoomHistory, ARoomOutlivesItsMembersUntilItsMessagesGo) {
  // The store knows nothing of members: a room's record stays as long as a message does, and
  // its last seq with it.
  RoomHistory history(limits(100, seconds{60}));
  history.record("lobby", message(41, kStart), kStart);
  history.record("lobby", message(42, kStart), kStart);
  EXPECT_EQ(history.last_seq("lobby"), 42u);
  history.expire(kStart + seconds{59});
  EXPECT_EQ(history.last_seq("lobby"), 42u);
  history.expire(kStart + seconds{60});
  EXPECT_EQ(history.last_seq("lobby"), std::nullopt);
}

TEST(RoomHistory, ZeroMessagesKeepsNothing) {
  RoomHistory history(limits(10));
  history.record("lobby", message(1, kStart), kStart);
  history.set_limits(limits(0), kStart);
  EXPECT_EQ(history.messages(), 0u);
  EXPECT_EQ(history.bytes(), 0u);
  history.record("lobby", message(2, kStart), kStart);
  EXPECT_EQ(history.messages(), 0u);
  const auto slice = history.slice("lobby", 0, 100, 2, kStart);
  EXPECT_TRUE(slice.messages.empty());
  EXPECT_FALSE(slice.complete);
  EXPECT_TRUE(history.slice("lobby", 2, 100, 2, kStart).complete);
}

TEST(RoomHistory, SeqsOfAnEarlierRunAreNeverVouchedFor) {
  RoomHistory history(limits(10));
  history.set_run_base(5000);
  history.record("lobby", message(5001, kStart), kStart);
  EXPECT_FALSE(history.slice("lobby", 4990, 100, 5001, kStart).complete);
  EXPECT_TRUE(history.slice("lobby", 5000, 100, 5001, kStart).complete);
  // A room of this run that has nothing stored yet.
  EXPECT_FALSE(history.slice("quiet", 0, 100, 5001, kStart).complete);
  EXPECT_TRUE(history.slice("quiet", 5001, 100, 5001, kStart).complete);
}

TEST(RoomHistory, ANewRoomOfTheFirstRunIsComplete) {
  // Seqs jump when a room is created (it starts after every seq of the run), but nothing of it
  // was lost: a client asking from 0 is told the record is whole.
  RoomHistory history(limits(10));
  history.record("busy", message(700, kStart), kStart);
  history.record("fresh", message(701, kStart), kStart);
  const auto slice = history.slice("fresh", 0, 100, 701, kStart);
  EXPECT_EQ(seqs(slice), std::vector<std::uint64_t>{701});
  EXPECT_TRUE(slice.complete);
}

}  // namespace
}  // namespace parley::server
