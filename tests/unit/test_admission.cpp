#include <gtest/gtest.h>

#include "admission.hpp"
#include "occupancy.hpp"
#include "parley/token_bucket.hpp"
#include "refusal_log.hpp"

namespace parley::server {
namespace {

using namespace std::chrono_literals;
const Clock::time_point t0{};

boost::asio::ip::address ip(const char* s) {
  return boost::asio::ip::make_address(s);
}

TEST(TokenBucket, BurstThenRefill) {
  TokenBucket b(2.0, 3.0, t0);
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_FALSE(b.try_take(t0));
  EXPECT_FALSE(b.try_take(t0 + 400ms));  // 0.8 tokens
  EXPECT_TRUE(b.try_take(t0 + 500ms));   // 1.0 token
  EXPECT_DOUBLE_EQ(b.available(t0 + 100s), 3.0) << "never more than the burst";
  EXPECT_TRUE(b.full(t0 + 100s));
}

TEST(TokenBucket, ReconfigureClampsSavedTokens) {
  TokenBucket b(1.0, 10.0, t0);
  b.reconfigure(1.0, 2.0);
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_FALSE(b.try_take(t0));
}

TEST(SourceKey, GroupsIpv6ByPrefixAndMapsIpv4) {
  EXPECT_EQ(source_key(ip("192.0.2.7")), "v4:192.0.2.7");
  EXPECT_EQ(source_key(ip("::ffff:192.0.2.7")), "v4:192.0.2.7");
  EXPECT_EQ(source_key(ip("2001:db8:1:2:aaaa::1")), source_key(ip("2001:db8:1:2:bbbb::2")));
  EXPECT_NE(source_key(ip("2001:db8:1:2::1")), source_key(ip("2001:db8:1:3::1")));
  EXPECT_EQ(source_key(ip("2001:db8:1:2:aaaa::1")), "v6:2001:db8:1:2::/64");
}

using Verdict = Admission::Verdict;

// Admits under fresh ids, as the server does.
struct Admitting {
  Admission admission;
  std::uint64_t next_id = 0;
  Admission::Decision admit(const char* source, Clock::time_point now) {
    return admission.admit(++next_id, ip(source), now);
  }
  Verdict verdict(const char* source, Clock::time_point now) { return admit(source, now).verdict; }
};

AdmissionLimits limits(double rate, double burst, std::size_t pending,
                       std::size_t per_source = 1000) {
  AdmissionLimits l;
  l.per_source_rate = rate;
  l.per_source_burst = burst;
  l.max_pending = pending;
  l.max_pending_per_source = per_source;
  return l;
}

TEST(Admission, PerSourceRateWithBurst) {
  Admitting a{Admission(limits(1.0, 2.0, 100))};
  EXPECT_EQ(a.verdict("127.0.0.1", t0), Verdict::admitted);
  EXPECT_EQ(a.verdict("127.0.0.1", t0), Verdict::admitted);
  EXPECT_EQ(a.verdict("127.0.0.1", t0), Verdict::source_rate);
  EXPECT_EQ(a.verdict("127.0.0.2", t0), Verdict::admitted) << "another source";
  EXPECT_EQ(a.verdict("127.0.0.1", t0 + 1s), Verdict::admitted);
  EXPECT_EQ(a.admission.pending(), 4u);
}

TEST(Admission, PendingCapWhenNobodyCanBeEvicted) {
  Admitting a{Admission(limits(1000.0, 1000.0, 2))};
  EXPECT_EQ(a.verdict("10.0.0.1", t0), Verdict::admitted);
  EXPECT_EQ(a.verdict("10.0.0.2", t0), Verdict::admitted);
  // Both have sent their ClientHello: they wait for the server, and the newcomer is refused.
  a.admission.hello_received(1);
  a.admission.hello_received(2);
  EXPECT_EQ(a.verdict("10.0.0.3", t0 + 5s), Verdict::too_many_pending);
  a.admission.handshake_finished(1);
  EXPECT_EQ(a.verdict("10.0.0.3", t0 + 5s), Verdict::admitted);
  EXPECT_EQ(a.admission.pending(), 2u);
}

TEST(Admission, WhenEveryoneIsYoungTheOldestMakesRoom) {
  // A peer that reconnects at once after each eviction keeps its connections young; the
  // newcomer must still get in.
  Admitting a{Admission(limits(1000.0, 1000.0, 2))};
  ASSERT_EQ(a.verdict("10.0.0.1", t0 + 100ms), Verdict::admitted);
  ASSERT_EQ(a.verdict("10.0.0.2", t0), Verdict::admitted);
  a.admission.received(2, 100);
  EXPECT_EQ(a.admit("10.0.0.3", t0 + 500ms).evicted, 2u) << "the oldest, whatever it sent";
}

TEST(Admission, PendingCapPerSource) {
  Admitting a{Admission(limits(1000.0, 1000.0, 100, 2))};
  EXPECT_EQ(a.verdict("10.0.0.1", t0), Verdict::admitted);
  EXPECT_EQ(a.verdict("10.0.0.1", t0), Verdict::admitted);
  EXPECT_EQ(a.verdict("10.0.0.1", t0), Verdict::source_pending);
  EXPECT_EQ(a.verdict("::ffff:10.0.0.1", t0), Verdict::source_pending) << "the same address";
  EXPECT_EQ(a.verdict("10.0.0.2", t0), Verdict::admitted) << "another source";
  EXPECT_EQ(a.admission.pending_from(ip("10.0.0.1")), 2u);
  a.admission.handshake_finished(2);
  EXPECT_EQ(a.verdict("10.0.0.1", t0), Verdict::admitted);
  EXPECT_EQ(a.admission.pending_from(ip("10.0.0.1")), 2u);
}

TEST(Admission, FullTableEvictsWhoSentLeastForLongest) {
  Admitting a{Admission(limits(1000.0, 1000.0, 3))};
  ASSERT_EQ(a.verdict("10.0.0.1", t0), Verdict::admitted);  // 1: a trickle, 1 byte/s
  ASSERT_EQ(a.verdict("10.0.0.2", t0), Verdict::admitted);  // 2: a faster trickle, 5 bytes/s
  ASSERT_EQ(a.verdict("10.0.0.3", t0), Verdict::admitted);  // 3: its hello is in
  a.admission.received(1, 10);
  a.admission.received(2, 50);
  a.admission.hello_received(3);
  const auto first = a.admit("10.0.0.4", t0 + 10s);
  EXPECT_EQ(first.verdict, Verdict::admitted);
  EXPECT_EQ(first.evicted, 1u);
  EXPECT_EQ(a.admission.pending_from(ip("10.0.0.1")), 0u);
  // Now 2 (5 bytes/s) and the newcomer 4 (younger than the grace); 3 is past its hello.
  const auto second = a.admit("10.0.0.5", t0 + 10s + 500ms);
  EXPECT_EQ(second.evicted, 2u);
  // 3 waits for the server; 4 and 5 are young, and the older of them goes.
  EXPECT_EQ(a.admit("10.0.0.6", t0 + 10s + 600ms).evicted, 4u);
  // The evicted handshakes' own ends change nothing.
  a.admission.handshake_finished(1);
  a.admission.handshake_finished(2);
  EXPECT_EQ(a.admission.pending(), 3u);
}

TEST(Admission, EvictsTheOldestOfThoseThatSentNothing) {
  Admitting a{Admission(limits(1000.0, 1000.0, 2))};
  ASSERT_EQ(a.verdict("10.0.0.1", t0 + 1s), Verdict::admitted);
  ASSERT_EQ(a.verdict("10.0.0.2", t0), Verdict::admitted);
  EXPECT_EQ(a.admit("10.0.0.3", t0 + 5s).evicted, 2u);
}

TEST(Admission, SourceTableStaysBounded) {
  Admitting a{Admission(limits(1.0, 1.0, 1000), 4)};
  for (const char* s : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"})
    EXPECT_EQ(a.verdict(s, t0), Verdict::admitted);
  // All four still busy: a fifth source is refused, not added.
  EXPECT_EQ(a.verdict("10.0.0.5", t0), Verdict::source_rate);
  EXPECT_EQ(a.admission.tracked_sources(), 4u);
  // Once they have refilled they are forgotten and the newcomer fits.
  EXPECT_EQ(a.verdict("10.0.0.5", t0 + 2s), Verdict::admitted);
  EXPECT_LE(a.admission.tracked_sources(), 4u);
}

TEST(Occupancy, CountsSeatsInAllAndPerSource) {
  Occupancy o({3, 2});
  EXPECT_TRUE(o.has_room());
  auto a1 = o.take("v4:10.0.0.1");
  auto a2 = o.take("v4:10.0.0.1");
  EXPECT_FALSE(o.source_has_room("v4:10.0.0.1"));
  EXPECT_TRUE(o.source_has_room("v4:10.0.0.2"));
  auto b1 = o.take("v4:10.0.0.2");
  EXPECT_FALSE(o.has_room());
  EXPECT_EQ(o.total(), 3u);
  {
    Occupancy::Seat moved = std::move(a1);
    a1.release();  // moved from: gives nothing back
    EXPECT_EQ(o.total(), 3u);
  }
  EXPECT_EQ(o.total(), 2u);
  EXPECT_TRUE(o.source_has_room("v4:10.0.0.1"));
  a2.release();
  a2.release();
  EXPECT_EQ(o.held_by("v4:10.0.0.1"), 0u);
  EXPECT_EQ(o.total(), 1u);
  o.reconfigure({1, 1});
  EXPECT_FALSE(o.has_room()) << "a lower limit counts the seats already held";
}

TEST(RefusalLog, FirstOfEachSourceAndReasonThenOneCountPerInterval) {
  RefusalLog log(3);
  EXPECT_TRUE(log.note("v4:10.0.0.1", "rate"));
  for (int i = 0; i < 999; ++i)
    EXPECT_FALSE(log.note("v4:10.0.0.1", "rate"));
  EXPECT_TRUE(log.note("v4:10.0.0.1", "pending")) << "another reason";
  EXPECT_TRUE(log.note("v4:10.0.0.2", "rate")) << "another source";
  EXPECT_FALSE(log.note("v4:10.0.0.3", "rate")) << "beyond the tracked sources: counted";
  EXPECT_FALSE(log.note("v4:10.0.0.4", "rate"));
  const auto counts = log.end_interval();
  ASSERT_EQ(counts.size(), 2u) << "sources refused once are already logged";
  EXPECT_EQ(counts[0].source, "other");
  EXPECT_EQ(counts[0].count, 2u);
  EXPECT_EQ(counts[1].source, "v4:10.0.0.1");
  EXPECT_EQ(counts[1].reason, "rate");
  EXPECT_EQ(counts[1].count, 999u);
  EXPECT_TRUE(log.empty());
  EXPECT_TRUE(log.note("v4:10.0.0.1", "rate")) << "a new interval logs the first again";
}

}  // namespace
}  // namespace parley::server
