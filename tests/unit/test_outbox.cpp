#include <gtest/gtest.h>

#include "outbox.hpp"
#include "parley/frame.hpp"

namespace parley::server {
namespace {

const SuiteInfo& aes() {
  return suite_info(SuiteId::aes_256_gcm);
}

// A sealer/opener pair past the handshake records, as a live session has.
struct Pair {
  RecordSealer sealer{aes(), Secret(32, 1)};
  RecordOpener opener{Direction::server_to_client, aes(), Secret(32, 1)};
  Pair() {
    Bytes hs;
    sealer.seal(ContentType::finished, Bytes(32, 0), hs);
    sealer.seal(ContentType::app, as_bytes("welcome"), hs);
    FrameDecoder d(1 << 20);
    d.feed(hs);
    while (auto f = d.next())
      EXPECT_TRUE(std::holds_alternative<OpenedRecord>(opener.open(*f)));
  }
  std::vector<std::string> open_all(const Bytes& stream) {
    FrameDecoder d(1 << 20);
    d.feed(stream);
    std::vector<std::string> out;
    while (auto f = d.next()) {
      auto r = opener.open(*f);
      EXPECT_TRUE(std::holds_alternative<OpenedRecord>(r));
      if (auto* rec = std::get_if<OpenedRecord>(&r)) out.emplace_back(as_chars(rec->data));
    }
    EXPECT_EQ(d.buffered(), 0u);
    return out;
  }
};

Bytes copy(ByteView v) {
  return Bytes(v.begin(), v.end());
}

TEST(Outbox, OneWriteCarriesEverythingQueuedInOrder) {
  Pair p;
  Outbox box(1 << 20);
  EXPECT_TRUE(box.empty());
  for (const char* m : {"a", "b", "c"})
    ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes(m)));
  const Bytes all = copy(box.next_write());
  EXPECT_EQ(all.size(), box.unsent_bytes());
  box.wrote(all.size());
  EXPECT_TRUE(box.empty());
  EXPECT_EQ(p.open_all(all), (std::vector<std::string>{"a", "b", "c"}));
}

// The session paces listing pages by these positions: a mark taken after a push is passed once
// everything up to it was written, across partial writes, compaction and reuse of the buffer.
TEST(Outbox, StreamPositionsCountEveryByteOnce) {
  Pair p;
  Outbox box(1 << 20);
  ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes(std::string(40000, 'a'))));
  const std::uint64_t mark = box.queued_total();
  EXPECT_EQ(mark, box.unsent_bytes());
  EXPECT_EQ(box.sent_total(), 0u);
  ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes("later")));
  box.wrote(30000);  // past kKeepCapacity: the sent front is dropped
  EXPECT_EQ(box.sent_total(), 30000u);
  EXPECT_LT(box.sent_total(), mark);
  box.wrote(mark - 30000);
  EXPECT_EQ(box.sent_total(), mark);
  const std::uint64_t end = box.queued_total();
  box.discard();
  EXPECT_EQ(box.sent_total(), end);
  EXPECT_EQ(box.queued_total(), end);
}

TEST(Outbox, PartialWritesResumeWhereTheSocketStopped) {
  Pair p;
  Outbox box(1 << 20);
  for (const char* m : {"first", "second"})
    ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes(m)));
  Bytes stream;
  // The kernel takes 7 bytes, then 1, then the rest; a push in between goes behind.
  for (std::size_t n : {7u, 1u}) {
    const ByteView v = box.next_write();
    stream.insert(stream.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
    box.wrote(n);
  }
  ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes("third")));
  const ByteView rest = box.next_write();
  stream.insert(stream.end(), rest.begin(), rest.end());
  box.wrote(rest.size());
  EXPECT_TRUE(box.empty());
  EXPECT_EQ(p.open_all(stream), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_THROW(box.wrote(1), std::logic_error);
}

TEST(Outbox, SlowReaderKeepsOnlyUnsentBytes) {
  Pair p;
  Outbox box(1 << 24);
  const Bytes msg(1000, 'x');
  Bytes stream;
  std::size_t pushed = 0;
  // A reader taking 700 bytes per turn while 1000 arrive: the sent front is dropped as it goes.
  for (int turn = 0; turn < 200; ++turn) {
    ASSERT_TRUE(box.push(p.sealer, ContentType::app, msg));
    ++pushed;
    const ByteView v = box.next_write();
    const std::size_t n = std::min<std::size_t>(700, v.size());
    stream.insert(stream.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
    box.wrote(n);
  }
  const ByteView v = box.next_write();
  stream.insert(stream.end(), v.begin(), v.end());
  box.wrote(v.size());
  const auto opened = p.open_all(stream);
  ASSERT_EQ(opened.size(), pushed);
  EXPECT_EQ(opened.back(), std::string(1000, 'x'));
}

TEST(Outbox, RefusesOverBudgetAndCountsUnsentBytes) {
  Pair p;
  const Bytes msg(100, 'x');
  const std::size_t frame = p.sealer.frame_size(msg.size());
  Outbox box(3 * frame + p.sealer.frame_size(0));
  EXPECT_TRUE(box.push(p.sealer, ContentType::app, msg));
  EXPECT_TRUE(box.push(p.sealer, ContentType::app, msg));
  EXPECT_TRUE(box.push(p.sealer, ContentType::app, msg));
  const std::uint64_t seq = p.sealer.seq();
  EXPECT_FALSE(box.push(p.sealer, ContentType::app, msg));
  EXPECT_EQ(p.sealer.seq(), seq) << "a refused push seals nothing";
  box.wrote(frame - 1);
  EXPECT_FALSE(box.push(p.sealer, ContentType::app, msg)) << "a partly written frame still counts";
  box.wrote(1);
  EXPECT_TRUE(box.push(p.sealer, ContentType::app, msg));
}

TEST(Outbox, FinalCloseGoesOutEvenOverBudget) {
  Pair p;
  Outbox box(p.sealer.frame_size(10));
  EXPECT_FALSE(box.push(p.sealer, ContentType::app, Bytes(50, 'x')));
  box.push_final(p.sealer, ContentType::close, encode_close(StatusCode::policy, "slow consumer"));
  FrameDecoder d(1 << 20);
  d.feed(box.next_write());
  auto f = d.next();
  ASSERT_TRUE(f);
  auto r = p.opener.open(*f);
  ASSERT_TRUE(std::holds_alternative<OpenedRecord>(r));
  EXPECT_EQ(std::get<OpenedRecord>(r).type, ContentType::close);
  EXPECT_EQ(parse_close(std::get<OpenedRecord>(r).data)->code, StatusCode::policy);
}

TEST(Outbox, ShrinkAndDiscard) {
  Pair p;
  Outbox box(1 << 20);
  ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes("queued")));
  const Bytes queued = copy(box.next_write());
  box.shrink();  // something is unsent: nothing may be dropped
  EXPECT_EQ(copy(box.next_write()), queued);
  box.wrote(3);
  box.shrink();  // a write is half done: its buffer must stay
  EXPECT_EQ(box.unsent_bytes(), queued.size() - 3);
  box.discard();
  EXPECT_TRUE(box.empty());
  box.shrink();
  ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes("after")));
  EXPECT_EQ(box.unsent_bytes(), queued.size() - 1);  // "after" is one byte shorter
}

}  // namespace
}  // namespace parley::server
