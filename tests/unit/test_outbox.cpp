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

TEST(Outbox, OneWriteCarriesEverythingQueuedInOrder) {
  Pair p;
  Outbox box(1 << 20);
  for (const char* m : {"a", "b", "c"})
    ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes(m)));
  EXPECT_TRUE(box.has_queued());
  const Bytes& write = box.begin_write();
  EXPECT_FALSE(box.has_queued());
  EXPECT_TRUE(box.writing());
  // Pushed while the write is in flight: queued behind it, sealed after it.
  ASSERT_TRUE(box.push(p.sealer, ContentType::app, as_bytes("d")));
  EXPECT_EQ(p.open_all(write), (std::vector<std::string>{"a", "b", "c"}));
  box.end_write();
  EXPECT_EQ(p.open_all(box.begin_write()), (std::vector<std::string>{"d"}));
  box.end_write();
  EXPECT_EQ(box.unsent_bytes(), 0u);
}

TEST(Outbox, RefusesOverBudgetAndCountsTheWriteInFlight) {
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
  box.begin_write();
  EXPECT_FALSE(box.push(p.sealer, ContentType::app, msg)) << "bytes being written still count";
  box.end_write();
  EXPECT_TRUE(box.push(p.sealer, ContentType::app, msg));
}

TEST(Outbox, FinalCloseGoesOutEvenOverBudget) {
  Pair p;
  Outbox box(p.sealer.frame_size(10));
  EXPECT_FALSE(box.push(p.sealer, ContentType::app, Bytes(50, 'x')));
  box.push_final(p.sealer, ContentType::close, encode_close(StatusCode::policy, "slow consumer"));
  FrameDecoder d(1 << 20);
  d.feed(box.begin_write());
  auto f = d.next();
  ASSERT_TRUE(f);
  auto r = p.opener.open(*f);
  ASSERT_TRUE(std::holds_alternative<OpenedRecord>(r));
  EXPECT_EQ(std::get<OpenedRecord>(r).type, ContentType::close);
  EXPECT_EQ(parse_close(std::get<OpenedRecord>(r).data)->code, StatusCode::policy);
}

TEST(Outbox, ShrinkOnlyWhenIdle) {
  RecordSealer sealer(aes(), Secret(32, 1));
  Outbox box(1 << 20);
  ASSERT_TRUE(box.push(sealer, ContentType::app, as_bytes("queued")));
  box.shrink();  // something is queued: nothing may be dropped
  ASSERT_TRUE(box.has_queued());
  const Bytes first = box.begin_write();
  box.shrink();  // a write is in flight: its buffer must stay
  EXPECT_TRUE(box.writing());
  box.end_write();
  box.shrink();
  EXPECT_FALSE(box.has_queued());
  ASSERT_TRUE(box.push(sealer, ContentType::app, as_bytes("after")));
  EXPECT_EQ(box.begin_write().size(), first.size() - 1);  // "after" is one byte shorter
  box.end_write();
}

TEST(Outbox, OnlyOneWriteAtATime) {
  Pair p;
  Outbox box(1 << 20);
  box.begin_write();
  EXPECT_THROW(box.begin_write(), std::logic_error);
}

}  // namespace
}  // namespace parley::server
