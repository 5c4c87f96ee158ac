#include <gtest/gtest.h>

#include <random>

#include "parley/bytes.hpp"
#include "parley/frame.hpp"

namespace parley {
namespace {

TEST(Bytes, HexRoundTripAndStrictness) {
  EXPECT_EQ(to_hex(from_hex("00ff10Ab")), "00ff10ab");
  EXPECT_THROW(from_hex("abc"), std::invalid_argument);
  EXPECT_THROW(from_hex("zz"), std::invalid_argument);
  EXPECT_THROW(from_hex("a b "), std::invalid_argument);
}

TEST(Bytes, WriterAndReaderAgree) {
  Bytes out;
  Writer w(out);
  w.u8(1);
  w.u16(0x0203);
  w.u32(0x04050607);
  w.u64(0x08090a0b0c0d0e0f);
  w.vec16(from_hex("aabb"));
  EXPECT_EQ(to_hex(out), "0102030405060708090a0b0c0d0e0f0002aabb");

  Reader r(out);
  EXPECT_EQ(r.u8(), 1);
  EXPECT_EQ(r.u16(), 0x0203);
  EXPECT_EQ(r.u32(), 0x04050607u);
  EXPECT_EQ(r.u64(), 0x08090a0b0c0d0e0fu);
  auto v = r.vec16();
  ASSERT_TRUE(v);
  EXPECT_EQ(to_hex(*v), "aabb");
  EXPECT_TRUE(r.done());
}

TEST(Bytes, ReaderNeverReadsPastTheEnd) {
  const Bytes in = from_hex("0005aabb");  // vec16 claims 5 bytes, holds 2
  Reader r(in);
  EXPECT_FALSE(r.vec16());
  EXPECT_TRUE(r.failed());
  EXPECT_FALSE(r.u8());  // a failed reader stays failed
  EXPECT_FALSE(r.done());
}

TEST(Bytes, Vec16RejectsOversizedField) {
  Bytes out;
  Bytes big(70000);
  EXPECT_THROW(Writer(out).vec16(big), std::length_error);
}

Bytes frames_of(const std::vector<Bytes>& bodies) {
  Bytes stream;
  for (const auto& b : bodies)
    append_frame(stream, b);
  return stream;
}

std::vector<Bytes> drain(FrameDecoder& d) {
  std::vector<Bytes> out;
  while (auto f = d.next())
    out.emplace_back(f->begin(), f->end());
  return out;
}

std::vector<Bytes> sample_bodies() {
  std::vector<Bytes> bodies;
  for (std::size_t len : {1u, 2u, 3u, 4u, 5u, 100u, 1000u, 16384u}) {
    Bytes b(len);
    for (std::size_t i = 0; i < len; ++i)
      b[i] = static_cast<std::uint8_t>(i * 7 + len);
    bodies.push_back(b);
  }
  return bodies;
}

TEST(FrameDecoder, OneByteAtATime) {
  const auto bodies = sample_bodies();
  const Bytes stream = frames_of(bodies);
  FrameDecoder d(kHandshakeMaxFrame);
  std::vector<Bytes> got;
  for (std::uint8_t byte : stream) {
    d.feed(ByteView(&byte, 1));
    for (auto& f : drain(d))
      got.push_back(std::move(f));
  }
  EXPECT_EQ(got, bodies);
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(d.error(), FrameError::none);
}

TEST(FrameDecoder, RandomChunkings) {
  const auto bodies = sample_bodies();
  const Bytes stream = frames_of(bodies);
  std::mt19937 gen(1234);
  for (int round = 0; round < 200; ++round) {
    FrameDecoder d(kHandshakeMaxFrame);
    std::vector<Bytes> got;
    std::size_t pos = 0;
    std::uniform_int_distribution<std::size_t> chunk(1, round % 2 ? 7 : 5000);
    while (pos < stream.size()) {
      const std::size_t n = std::min(chunk(gen), stream.size() - pos);
      if (round % 3 == 0) {
        // The zero-copy path the server uses.
        auto room = d.prepare(n);
        std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(pos), n, room.begin());
        d.commit(n);
      } else {
        d.feed(ByteView(stream).subspan(pos, n));
      }
      pos += n;
      for (auto& f : drain(d))
        got.push_back(std::move(f));
    }
    ASSERT_EQ(got, bodies) << "round " << round;
  }
}

TEST(FrameDecoder, MaxFrameIsInclusive) {
  FrameDecoder d(10);
  d.feed(frames_of({Bytes(10, 1)}));
  auto f = d.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), 10u);
}

TEST(FrameDecoder, RefusesOversizedLengthFromHeaderAlone) {
  FrameDecoder d(kHandshakeMaxFrame);
  d.feed(from_hex("00004001"));  // 16385, no body sent
  EXPECT_FALSE(d.next());
  EXPECT_EQ(d.error(), FrameError::too_long);
}

TEST(FrameDecoder, RefusesZeroLength) {
  FrameDecoder d(kHandshakeMaxFrame);
  d.feed(from_hex("0000000001020304"));
  EXPECT_FALSE(d.next());
  EXPECT_EQ(d.error(), FrameError::zero_length);
}

TEST(FrameDecoder, ErrorIsSticky) {
  FrameDecoder d(4);
  d.feed(from_hex("00000005"));
  EXPECT_FALSE(d.next());
  d.feed(frames_of({Bytes(1, 9)}));  // a good frame after the bad one is not seen
  EXPECT_FALSE(d.next());
  EXPECT_EQ(d.error(), FrameError::too_long);
}

TEST(FrameDecoder, LimitCanBeRaisedAfterTheHandshake) {
  FrameDecoder d(kHandshakeMaxFrame);
  d.set_max_frame(65536);
  d.feed(frames_of({Bytes(20000, 3)}));
  auto f = d.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), 20000u);
}

TEST(FrameDecoder, ShrinkReleasesAnEmptyBuffer) {
  FrameDecoder d(kHandshakeMaxFrame);
  d.feed(frames_of({Bytes(5000, 3)}));
  ASSERT_TRUE(d.next());
  d.shrink();
  EXPECT_EQ(d.buffered(), 0u);
  d.feed(frames_of({Bytes(3, 4)}));
  auto f = d.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(Bytes(f->begin(), f->end()), Bytes(3, 4));
}

TEST(FrameEncoder, RejectsEmptyBody) {
  Bytes out;
  EXPECT_THROW(append_frame(out, {}), std::length_error);
  EXPECT_EQ(to_hex(encode_frame(from_hex("abcd"))), "00000002abcd");
}

}  // namespace
}  // namespace parley
