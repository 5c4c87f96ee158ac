// The load generator's pure parts: message stamps, percentiles and the histogram, and the
// MQTT / NATS / IRC subsets it speaks to the peers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "stats.hpp"
#include "wire.hpp"

namespace parley::bench {
namespace {

std::string text_of(const Bytes& b) {
  return std::string(as_chars(b));
}

TEST(BenchStamp, RoundTripsAndPadsToSize) {
  std::string text;
  const Stamp s{7, 123456789, 987654321012345};
  make_text(s, 128, text);
  EXPECT_EQ(text.size(), 128u);
  EXPECT_EQ(text.rfind("7 123456789 987654321012345 x", 0), 0u);
  EXPECT_EQ(parse_text(text), s);
}

TEST(BenchStamp, ShortSizeKeepsTheWholeStamp) {
  std::string text;
  make_text(Stamp{1, 2, 3}, 2, text);
  EXPECT_EQ(text, "1 2 3 ");
  EXPECT_EQ(parse_text(text), (Stamp{1, 2, 3}));
}

TEST(BenchStamp, RejectsJunk) {
  EXPECT_FALSE(parse_text(""));
  EXPECT_FALSE(parse_text("hello world"));
  EXPECT_FALSE(parse_text("1 2"));
  EXPECT_FALSE(parse_text("1 -2 3"));
}

TEST(BenchPercentile, NearestRank) {
  std::vector<std::int64_t> v;
  EXPECT_EQ(percentile(v, 0.5), 0);
  for (int i = 1; i <= 100; ++i)
    v.push_back(i);
  EXPECT_EQ(percentile(v, 0.0), 1);
  EXPECT_EQ(percentile(v, 0.5), 50);
  EXPECT_EQ(percentile(v, 0.99), 99);
  EXPECT_EQ(percentile(v, 0.999), 100);
  EXPECT_EQ(percentile(v, 1.0), 100);
}

TEST(BenchSpread, MaxMinusMinOverMax) {
  EXPECT_EQ(spread({}), 0.0);
  EXPECT_EQ(spread({0, 0}), 0.0);
  EXPECT_EQ(spread({5}), 0.0);
  EXPECT_DOUBLE_EQ(spread({100, 99, 98}), 0.02);
  EXPECT_DOUBLE_EQ(spread({50, 100, 75}), 0.5);
}

TEST(BenchDescriptors, CountsWhatThisProcessOpens) {
  const auto before = count_descriptors(::getpid());
  ASSERT_TRUE(before.has_value());
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(count_descriptors(::getpid()), *before + 1);
  ::close(fd);
  EXPECT_EQ(count_descriptors(::getpid()), before);
  EXPECT_FALSE(count_descriptors(-1).has_value());
}

TEST(BenchHistogram, BucketsCoverEveryValueWithinHalfAPercent) {
  for (std::int64_t v : {0LL, 1LL, 255LL, 256LL, 257LL, 1000LL, 65535LL, 1000000LL, 123456789012LL,
                         (1LL << 62) + 12345}) {
    const auto b = Histogram::bucket_of(v);
    EXPECT_LE(Histogram::bucket_low(b), v) << v;
    EXPECT_GE(Histogram::bucket_high(b), v) << v;
    const double width = static_cast<double>(Histogram::bucket_high(b) - Histogram::bucket_low(b));
    EXPECT_LE(width, 0.008 * static_cast<double>(std::max<std::int64_t>(v, 1)) + 1) << v;
  }
  // Adjacent buckets tile the line with no gap.
  for (std::size_t b = 0; b < 2000; ++b)
    EXPECT_EQ(Histogram::bucket_high(b) + 1, Histogram::bucket_low(b + 1)) << b;
}

TEST(BenchHistogram, PercentilesMatchSortedSamples) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 1.0);  // around 60 us in ns, long tail
  Histogram h;
  std::vector<std::int64_t> all;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::int64_t>(dist(rng));
    h.record(v);
    all.push_back(v);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(h.count(), all.size());
  EXPECT_EQ(h.min(), all.front());
  EXPECT_EQ(h.max(), all.back());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = static_cast<double>(percentile(all, q));
    EXPECT_NEAR(static_cast<double>(h.percentile(q)), exact, exact * 0.005) << q;
  }
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(0.99), 0);
}

TEST(BenchMqtt, ConnectSubscribePublishBytes) {
  Bytes out;
  mqtt::connect(out, "b1");
  EXPECT_EQ(to_hex(out), "100e00044d5154540402000000026231");
  out.clear();
  mqtt::subscribe(out, 1, "r0");
  EXPECT_EQ(to_hex(out),
            "82070001000272300"
            "0");
  out.clear();
  mqtt::publish(out, "r0", "hi");
  EXPECT_EQ(to_hex(out), "3006000272306869");
  out.clear();
  mqtt::pingreq(out);
  mqtt::disconnect(out);
  EXPECT_EQ(to_hex(out), "c000e000");
}

TEST(BenchMqtt, LongPayloadUsesAMultiByteLength) {
  Bytes out;
  const std::string payload(200, 'x');
  mqtt::publish(out, "r0", payload);
  // 2 + 2 + 200 = 204 = 0xCC 0x01 as a varint
  EXPECT_EQ(out[1], 0xCC);
  EXPECT_EQ(out[2], 0x01);
  mqtt::Packet p;
  std::size_t used = 0;
  ASSERT_EQ(mqtt::next_packet(out, p, used), ParseStatus::ok);
  EXPECT_EQ(used, out.size());
  const auto pub = mqtt::parse_publish(p);
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->topic, "r0");
  EXPECT_EQ(pub->payload, payload);
}

TEST(BenchMqtt, ParserWaitsForWholePacketsAndRefusesLongLengths) {
  Bytes out;
  mqtt::publish(out, "room", "payload");
  mqtt::Packet p;
  std::size_t used = 0;
  for (std::size_t n = 0; n < out.size(); ++n)
    EXPECT_EQ(mqtt::next_packet(ByteView(out).first(n), p, used), ParseStatus::incomplete) << n;
  const Bytes five = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
  EXPECT_EQ(mqtt::next_packet(five, p, used), ParseStatus::malformed);
  const Bytes connack = {0x20, 0x02, 0x00, 0x00};
  ASSERT_EQ(mqtt::next_packet(connack, p, used), ParseStatus::ok);
  EXPECT_EQ(p.type, static_cast<std::uint8_t>(mqtt::Type::connack));
  EXPECT_EQ(p.body.size(), 2u);
}

TEST(BenchMqtt, Qos1PublishSkipsThePacketId) {
  const Bytes b = {0x32, 0x08, 0x00, 0x02, 'r', '0', 0x00, 0x05, 'h', 'i'};
  mqtt::Packet p;
  std::size_t used = 0;
  ASSERT_EQ(mqtt::next_packet(b, p, used), ParseStatus::ok);
  const auto pub = mqtt::parse_publish(p);
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->payload, "hi");
}

TEST(BenchNats, EncodesConnectSubPub) {
  Bytes out;
  nats::connect(out, "b1");
  EXPECT_NE(text_of(out).find(R"("echo":false)"), std::string::npos);
  EXPECT_NE(text_of(out).find(R"("verbose":false)"), std::string::npos);
  EXPECT_TRUE(text_of(out).ends_with("}\r\n"));
  out.clear();
  nats::sub(out, "r3", 4);
  nats::pub(out, "r3", "hello");
  EXPECT_EQ(text_of(out), "SUB r3 4\r\nPUB r3 5\r\nhello\r\n");
}

TEST(BenchNats, ParsesMsgPingAndErr) {
  const std::string wire =
      "INFO {\"x\":1}\r\nMSG r3 4 5\r\nhello\r\nMSG r3 4 _INBOX.1 2\r\nhi\r\nPING\r\n"
      "-ERR 'Slow Consumer'\r\n";
  ByteView data = as_bytes(wire);
  std::vector<nats::Op> ops;
  for (;;) {
    nats::Op op;
    std::size_t used = 0;
    const auto status = nats::next_op(data, op, used);
    if (status != ParseStatus::ok) {
      EXPECT_EQ(status, ParseStatus::incomplete);
      break;
    }
    ops.push_back(op);
    data = data.subspan(used);
  }
  ASSERT_EQ(ops.size(), 5u);
  EXPECT_EQ(ops[0].kind, nats::Kind::info);
  EXPECT_EQ(ops[1].kind, nats::Kind::msg);
  EXPECT_EQ(ops[1].subject, "r3");
  EXPECT_EQ(ops[1].payload, "hello");
  EXPECT_EQ(ops[2].payload, "hi");
  EXPECT_EQ(ops[3].kind, nats::Kind::ping);
  EXPECT_EQ(ops[4].kind, nats::Kind::err);
  EXPECT_TRUE(data.empty());
}

TEST(BenchNats, MsgWaitsForItsPayload) {
  const std::string wire = "MSG r3 4 5\r\nhel";
  nats::Op op;
  std::size_t used = 0;
  EXPECT_EQ(nats::next_op(as_bytes(wire), op, used), ParseStatus::incomplete);
  const std::string bad = "MSG r3 4 5\r\nhelloXX";
  EXPECT_EQ(nats::next_op(as_bytes(bad), op, used), ParseStatus::malformed);
}

TEST(BenchIrc, EncodesAndParses) {
  Bytes out;
  irc::nick_user(out, "b7");
  irc::join(out, "#r1");
  irc::privmsg(out, "#r1", "1 2 3 xx");
  irc::pong(out, "tok");
  EXPECT_EQ(text_of(out),
            "NICK b7\r\nUSER b7 0 * :parley-bench\r\nJOIN #r1\r\nPRIVMSG #r1 :1 2 3 xx\r\n"
            "PONG :tok\r\n");

  const std::string wire =
      ":b1!~b1@localhost PRIVMSG #r1 :1 2 3 x x\r\nPING :srv\n:srv 366 b7 #r1 :End";
  ByteView data = as_bytes(wire);
  std::string_view line;
  std::size_t used = 0;
  ASSERT_EQ(irc::next_line(data, line, used), ParseStatus::ok);
  auto m = irc::parse(line);
  EXPECT_EQ(m.prefix, "b1!~b1@localhost");
  EXPECT_EQ(m.command, "PRIVMSG");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], "#r1");
  EXPECT_EQ(m.params[1], "1 2 3 x x");
  data = data.subspan(used);
  ASSERT_EQ(irc::next_line(data, line, used), ParseStatus::ok);
  m = irc::parse(line);
  EXPECT_EQ(m.command, "PING");
  EXPECT_EQ(m.params.back(), "srv");
  data = data.subspan(used);
  EXPECT_EQ(irc::next_line(data, line, used), ParseStatus::incomplete);
}

}  // namespace
}  // namespace parley::bench
