#include <gtest/gtest.h>

#include "parley/frame.hpp"
#include "parley/record.hpp"
#include "test_support.hpp"

namespace parley {
namespace {

Secret secret(std::uint8_t fill) {
  return Secret(32, fill);
}

ByteView body_of(const Bytes& frame) {
  return ByteView(frame).subspan(kFrameHeaderSize);
}

// Splits a byte stream of whole frames into frames.
std::vector<Bytes> split(const Bytes& stream) {
  FrameDecoder d(1 << 24);
  d.feed(stream);
  std::vector<Bytes> out;
  while (auto f = d.next()) {
    Bytes frame;
    Writer(frame).u32(static_cast<std::uint32_t>(f->size()));
    append(frame, *f);
    out.push_back(std::move(frame));
  }
  EXPECT_EQ(d.buffered(), 0u);
  return out;
}

class RecordsPerSuite : public ::testing::TestWithParam<SuiteId> {
 protected:
  const SuiteInfo& suite() const { return suite_info(GetParam()); }
  // A c2s pair past record #0, as after a handshake.
  std::pair<RecordSealer, RecordOpener> established_pair() const {
    RecordSealer sealer(suite(), secret(7));
    RecordOpener opener(Direction::client_to_server, suite(), secret(7));
    Bytes frame;
    sealer.seal(ContentType::finished, Bytes(32, 1), frame);
    EXPECT_TRUE(std::holds_alternative<OpenedRecord>(opener.open(body_of(frame))));
    return {std::move(sealer), std::move(opener)};
  }
};

TEST_P(RecordsPerSuite, RoundTripManySizes) {
  auto [sealer, opener] = established_pair();
  for (std::size_t size : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 1000u, 4096u, 65000u}) {
    Bytes data(size);
    for (std::size_t i = 0; i < size; ++i)
      data[i] = static_cast<std::uint8_t>(i * 31 + size);
    Bytes frame;
    sealer.seal(ContentType::app, data, frame);
    EXPECT_EQ(frame.size(), sealer.frame_size(size));
    auto opened = opener.open(body_of(frame));
    ASSERT_TRUE(std::holds_alternative<OpenedRecord>(opened)) << size;
    EXPECT_EQ(std::get<OpenedRecord>(opened).type, ContentType::app);
    const auto got = std::get<OpenedRecord>(opened).data;
    EXPECT_EQ(Bytes(got.begin(), got.end()), data) << size;
  }
}

// The load generator counts records unread: skip() moves the expected seq on, and a skip that
// was wrong (the record was a key_update) shows at the next open().
TEST_P(RecordsPerSuite, SkippedRecordsAreCountedAndAWrongSkipIsFound) {
  auto [sealer, opener] = established_pair();
  Bytes frames;
  for (std::uint8_t i = 0; i < 3; ++i)
    sealer.seal(ContentType::app, Bytes(10, i), frames);
  auto parts = split(frames);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_FALSE(opener.skip().has_value());
  EXPECT_FALSE(opener.skip().has_value());
  auto third = opener.open(body_of(parts[2]));
  ASSERT_TRUE(std::holds_alternative<OpenedRecord>(third));
  EXPECT_EQ(std::get<OpenedRecord>(third).data[0], 2);

  Bytes update, after;
  sealer.update_keys(update);
  sealer.seal(ContentType::app, Bytes(10, 9), after);
  EXPECT_FALSE(opener.skip().has_value());  // the key_update, taken for an app record
  EXPECT_TRUE(std::holds_alternative<RecordError>(opener.open(body_of(after))));

  RecordOpener fresh(Direction::client_to_server, suite(), secret(7));
  EXPECT_EQ(fresh.skip(), RecordError::expected_finished) << "record #0 must be read";
}

TEST_P(RecordsPerSuite, KeyUpdateEachWay) {
  auto [sealer, opener] = established_pair();
  Bytes out;
  sealer.update_keys(out);
  sealer.seal(ContentType::app, as_bytes("after"), out);
  const auto frames = split(out);
  ASSERT_EQ(frames.size(), 2u);
  auto first = opener.open(body_of(frames[0]));
  ASSERT_TRUE(std::holds_alternative<OpenedRecord>(first));
  EXPECT_EQ(std::get<OpenedRecord>(first).type, ContentType::key_update);
  EXPECT_EQ(opener.epoch(), 1u);
  EXPECT_EQ(opener.seq(), 0u);
  auto second = opener.open(body_of(frames[1]));
  ASSERT_TRUE(std::holds_alternative<OpenedRecord>(second));
  EXPECT_EQ(as_chars(std::get<OpenedRecord>(second).data), "after");
}

// Idle sessions drop their cipher objects; the next record re-derives them from the traffic
// secret, in the right epoch, and the stream goes on byte for byte as if nothing happened.
TEST_P(RecordsPerSuite, ReleasedCiphersAreRederivedTransparently) {
  auto [sealer, opener] = established_pair();
  auto [twin_sealer, twin_opener] = established_pair();  // never released: the reference
  Bytes out, reference;
  for (int round = 0; round < 3; ++round) {
    sealer.release_cipher();
    EXPECT_FALSE(sealer.holds_cipher());
    opener.shrink();
    if (round == 1) {
      sealer.update_keys(out);
      twin_sealer.update_keys(reference);
      sealer.release_cipher();
    }
    const std::string text = "round " + std::to_string(round);
    sealer.seal(ContentType::app, as_bytes(text), out);
    twin_sealer.seal(ContentType::app, as_bytes(text), reference);
    EXPECT_TRUE(sealer.holds_cipher());
  }
  EXPECT_EQ(out, reference);
  std::string seen;
  for (const auto& frame : split(out)) {
    opener.shrink();
    auto opened = opener.open(body_of(frame));
    ASSERT_TRUE(std::holds_alternative<OpenedRecord>(opened));
    if (std::get<OpenedRecord>(opened).type == ContentType::app)
      seen += std::string(as_chars(std::get<OpenedRecord>(opened).data)) + ";";
  }
  EXPECT_EQ(seen, "round 0;round 1;round 2;");
  EXPECT_EQ(opener.epoch(), 1u);
}

TEST_P(RecordsPerSuite, SenderUpdatesKeysBeforeTheRecordLimit) {
  auto [sealer, opener] = established_pair();
  sealer.set_volume_limits(5, 1u << 20);
  Bytes out;
  for (int i = 0; i < 40; ++i)
    sealer.seal(ContentType::app, as_bytes("x"), out);
  std::size_t updates = 0, apps = 0, since_update = 1;  // record #0 counts
  for (const auto& frame : split(out)) {
    auto opened = opener.open(body_of(frame));
    ASSERT_TRUE(std::holds_alternative<OpenedRecord>(opened));
    ++since_update;
    if (std::get<OpenedRecord>(opened).type == ContentType::key_update) {
      ++updates;
      EXPECT_LT(since_update, 5u) << "records under one key, key_update included";
      since_update = 0;
    } else {
      ++apps;
    }
  }
  EXPECT_EQ(apps, 40u);
  EXPECT_GE(updates, 10u);
  EXPECT_EQ(opener.epoch(), sealer.epoch());
}

TEST_P(RecordsPerSuite, SenderUpdatesKeysBeforeTheByteLimit) {
  auto [sealer, opener] = established_pair();
  sealer.set_volume_limits(1u << 20, 100);
  Bytes out;
  for (int i = 0; i < 20; ++i)
    sealer.seal(ContentType::app, Bytes(30, 'y'), out);
  std::uint64_t bytes = 1 + 32;  // the finished record's plaintext
  for (const auto& frame : split(out)) {
    auto opened = opener.open(body_of(frame));
    ASSERT_TRUE(std::holds_alternative<OpenedRecord>(opened));
    bytes += 1 + std::get<OpenedRecord>(opened).data.size();
    EXPECT_LT(bytes, 100u);
    if (std::get<OpenedRecord>(opened).type == ContentType::key_update) bytes = 0;
  }
  EXPECT_GT(opener.epoch(), 5u);
  Bytes too_big;
  EXPECT_THROW(sealer.seal(ContentType::app, Bytes(99, 'z'), too_big), std::length_error);
}

TEST_P(RecordsPerSuite, TamperedTruncatedReplayedReorderedAreRefused) {
  auto fresh = [&] { return established_pair(); };
  auto three = [](RecordSealer& s) {
    Bytes out;
    for (const char* m : {"one", "two", "three"})
      s.seal(ContentType::app, as_bytes(m), out);
    return split(out);
  };
  {
    auto [s, o] = fresh();
    auto f = three(s);
    for (std::size_t pos = kFrameHeaderSize; pos < f[0].size(); ++pos) {
      auto [s2, o2] = fresh();
      Bytes frame = three(s2)[0];
      frame[pos] ^= 0x01;
      EXPECT_EQ(std::get<RecordError>(o2.open(body_of(frame))), RecordError::bad_record) << pos;
    }
  }
  {
    auto [s, o] = fresh();
    auto f = three(s);
    Bytes truncated(f[0].begin(), f[0].end() - 1);
    EXPECT_EQ(std::get<RecordError>(o.open(body_of(truncated))), RecordError::bad_record);
  }
  {
    auto [s, o] = fresh();
    auto f = three(s);
    ASSERT_TRUE(std::holds_alternative<OpenedRecord>(o.open(body_of(f[0]))));
    EXPECT_EQ(std::get<RecordError>(o.open(body_of(f[0]))), RecordError::bad_record);  // replay
  }
  {
    auto [s, o] = fresh();
    auto f = three(s);
    EXPECT_EQ(std::get<RecordError>(o.open(body_of(f[1]))), RecordError::bad_record);  // reorder
    // Even the right record is refused after a failure.
    EXPECT_EQ(std::get<RecordError>(o.open(body_of(f[0]))), RecordError::after_failure);
  }
  {
    // Keys of the other direction (same position) do not open it.
    RecordSealer s2c(suite(), secret(8));
    RecordOpener c2s(Direction::client_to_server, suite(), secret(7));
    Bytes frame;
    s2c.seal(ContentType::finished, Bytes(32, 1), frame);
    EXPECT_EQ(std::get<RecordError>(c2s.open(body_of(frame))), RecordError::bad_record);
  }
}

TEST_P(RecordsPerSuite, PositionRules) {
  auto open_at = [&](Direction dir, std::uint64_t seq, ContentType type, ByteView data) {
    RecordSealer sealer(suite(), secret(9));
    Bytes frame;
    for (std::uint64_t i = 0; i < seq; ++i)
      sealer.seal(ContentType::app, {}, frame);
    frame.clear();
    sealer.seal(type, data, frame);
    RecordOpener opener(dir, suite(), secret(9), seq);
    return opener.open(body_of(frame));
  };
  const auto c2s = Direction::client_to_server;
  const auto s2c = Direction::server_to_client;
  const Bytes th(32, 1);
  const Bytes close_data = encode_close(StatusCode::normal, "bye");
  EXPECT_TRUE(std::holds_alternative<OpenedRecord>(open_at(c2s, 0, ContentType::finished, th)));
  EXPECT_TRUE(
      std::holds_alternative<OpenedRecord>(open_at(s2c, 0, ContentType::close, close_data)));
  EXPECT_EQ(std::get<RecordError>(open_at(c2s, 0, ContentType::app, th)),
            RecordError::expected_finished);
  EXPECT_EQ(std::get<RecordError>(open_at(c2s, 1, ContentType::finished, th)),
            RecordError::finished_out_of_place);
  EXPECT_EQ(std::get<RecordError>(open_at(s2c, 1, ContentType::close, Bytes{0})),
            RecordError::close_too_short);
  EXPECT_TRUE(std::holds_alternative<OpenedRecord>(open_at(s2c, 1, ContentType::app, th)));
  EXPECT_TRUE(std::holds_alternative<OpenedRecord>(open_at(c2s, 1, ContentType::app, th)));

  // A key_update in the welcome's place (s2c #1) is refused; at c2s #1 it is fine.
  for (auto dir : {c2s, s2c}) {
    RecordSealer sealer(suite(), secret(9));
    RecordOpener opener(dir, suite(), secret(9));
    Bytes out;
    sealer.seal(ContentType::finished, th, out);
    sealer.update_keys(out);
    auto frames = split(out);
    ASSERT_TRUE(std::holds_alternative<OpenedRecord>(opener.open(body_of(frames[0]))));
    auto second = opener.open(body_of(frames[1]));
    if (dir == c2s) {
      EXPECT_TRUE(std::holds_alternative<OpenedRecord>(second));
    } else {
      EXPECT_EQ(std::get<RecordError>(second), RecordError::before_welcome);
    }
  }
}

TEST_P(RecordsPerSuite, SealRefusesARawKeyUpdate) {
  RecordSealer sealer(suite(), secret(1));
  Bytes out;
  EXPECT_THROW(sealer.seal(ContentType::key_update, {}, out), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(AllSuites, RecordsPerSuite, ::testing::ValuesIn(test::all_suite_ids()),
                         [](const auto& info) { return test::suite_test_name(info.param); });

TEST(Records, IdeaSequenceNumberCannotWrap) {
  const SuiteInfo& idea = suite_info(SuiteId::idea_ctr_hmac_sha256);
  RecordOpener opener(Direction::client_to_server, idea, secret(3), std::uint64_t{1} << 32, 1);
  EXPECT_EQ(std::get<RecordError>(opener.open(Bytes(40, 0))), RecordError::seq_exhausted);
}

TEST(Records, CloseParsing) {
  auto close = parse_close(encode_close(StatusCode::policy, "slow consumer"));
  ASSERT_TRUE(close);
  EXPECT_EQ(close->code, StatusCode::policy);
  EXPECT_EQ(close->reason, "slow consumer");
  EXPECT_FALSE(parse_close(Bytes{1}));
  EXPECT_EQ(parse_close(Bytes{0, 0})->reason, "");
}

}  // namespace
}  // namespace parley
