#include <gtest/gtest.h>

#include "admission.hpp"
#include "parley/token_bucket.hpp"

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

TEST(Admission, PerSourceRateWithBurst) {
  Admission a({1.0, 2.0, 100});
  EXPECT_EQ(a.admit(ip("127.0.0.1"), t0), Admission::Verdict::admitted);
  EXPECT_EQ(a.admit(ip("127.0.0.1"), t0), Admission::Verdict::admitted);
  EXPECT_EQ(a.admit(ip("127.0.0.1"), t0), Admission::Verdict::source_rate);
  EXPECT_EQ(a.admit(ip("127.0.0.2"), t0), Admission::Verdict::admitted) << "another source";
  EXPECT_EQ(a.admit(ip("127.0.0.1"), t0 + 1s), Admission::Verdict::admitted);
  EXPECT_EQ(a.pending(), 4u);
}

TEST(Admission, PendingCap) {
  Admission a({1000.0, 1000.0, 2});
  EXPECT_EQ(a.admit(ip("10.0.0.1"), t0), Admission::Verdict::admitted);
  EXPECT_EQ(a.admit(ip("10.0.0.2"), t0), Admission::Verdict::admitted);
  EXPECT_EQ(a.admit(ip("10.0.0.3"), t0), Admission::Verdict::too_many_pending);
  a.handshake_finished();
  EXPECT_EQ(a.admit(ip("10.0.0.3"), t0), Admission::Verdict::admitted);
}

TEST(Admission, SourceTableStaysBounded) {
  Admission a({1.0, 1.0, 1000}, 4);
  for (const char* s : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"})
    EXPECT_EQ(a.admit(ip(s), t0), Admission::Verdict::admitted);
  // All four still busy: a fifth source is refused, not added.
  EXPECT_EQ(a.admit(ip("10.0.0.5"), t0), Admission::Verdict::source_rate);
  EXPECT_EQ(a.tracked_sources(), 4u);
  // Once they have refilled they are forgotten and the newcomer fits.
  EXPECT_EQ(a.admit(ip("10.0.0.5"), t0 + 2s), Admission::Verdict::admitted);
  EXPECT_LE(a.tracked_sources(), 4u);
}

}  // namespace
}  // namespace parley::server
