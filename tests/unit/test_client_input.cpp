// The interactive client's pure parts: keys out of terminal bytes, Ctrl-R search, the paced
// send queue, UTF-8 widths and cuts, commands for rooms, mentions.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <clocale>
#include <set>

#include "commands.hpp"
#include "guarded.hpp"
#include "key_splitter.hpp"
#include "render.hpp"
#include "resend_queue.hpp"
#include "reverse_search.hpp"
#include "send_queue.hpp"
#include "utf8.hpp"

namespace parley::client {
namespace {

using Kind = Key::Kind;

std::vector<Key> keys_of(std::string_view bytes) {
  KeySplitter splitter;
  splitter.feed(bytes);
  std::vector<Key> out;
  for (int i = 0; i < 1000; ++i) {
    auto key = splitter.next();
    if (!key) key = splitter.flush();
    if (!key) break;
    out.push_back(*key);
  }
  return out;
}

std::vector<Kind> kinds_of(std::string_view bytes) {
  std::vector<Kind> out;
  for (const auto& key : keys_of(bytes))
    out.push_back(key.kind);
  return out;
}

TEST(KeySplitter, SequencesTmuxXtermAndLinuxSend) {
  EXPECT_EQ(kinds_of("\x1b[1~\x1b[4~\x1b[H\x1b[F\x1bOH\x1bOF\x1b[7~\x1b[8~"),
            (std::vector<Kind>{Kind::home, Kind::end, Kind::home, Kind::end, Kind::home, Kind::end,
                               Kind::home, Kind::end}));
  EXPECT_EQ(kinds_of("\x1b[3~\x1b[2~\x1b[5~\x1b[6~"),
            (std::vector<Kind>{Kind::del, Kind::insert, Kind::page_up, Kind::page_down}));
  EXPECT_EQ(
      kinds_of("\x1b[A\x1b[B\x1b[C\x1b[D\x1bOA\x1bOD"),
      (std::vector<Kind>{Kind::up, Kind::down, Kind::right, Kind::left, Kind::up, Kind::left}));
  EXPECT_EQ(
      kinds_of("\x1b[1;5D\x1b[1;5C\x1b"
               "b\x1b"
               "f"),
      (std::vector<Kind>{Kind::word_left, Kind::word_right, Kind::word_left, Kind::word_right}));
  EXPECT_EQ(kinds_of("\x1b[1;3D\x1b[1;3C\x1b\x1b[D\x1b\x1b[C"),
            (std::vector<Kind>{Kind::alt_left, Kind::alt_right, Kind::alt_left, Kind::alt_right}));
  const auto alt = keys_of(
      "\x1b"
      "3\x1b"
      "9");
  ASSERT_EQ(alt.size(), 2u);
  EXPECT_EQ(alt[0].kind, Kind::alt_digit);
  EXPECT_EQ(alt[0].digit, 3);
  EXPECT_EQ(alt[1].digit, 9);
  EXPECT_EQ(kinds_of("\x1b[200~\x1b[201~"),
            (std::vector<Kind>{Kind::paste_begin, Kind::paste_end}));
  // F-keys, mouse reports and the like are dropped whole, never typed as text.
  EXPECT_EQ(kinds_of("\x1b[15~\x1b[<0;3;4M\x1bOP"),
            (std::vector<Kind>{Kind::ignored, Kind::ignored, Kind::ignored}));
}

TEST(KeySplitter, TextControlsAndUtf8) {
  const auto keys = keys_of("a\xc3\xa9\xe2\x9c\x93\r\x12\x7f");
  ASSERT_EQ(keys.size(), 6u);
  EXPECT_EQ(keys[0].text, "a");
  EXPECT_EQ(keys[1].text, "\xc3\xa9");
  EXPECT_EQ(keys[2].text, "\xe2\x9c\x93");
  EXPECT_TRUE(keys[3].is_control('\r'));
  EXPECT_TRUE(keys[4].is_control(ctrl('r')));
  EXPECT_TRUE(keys[5].is_control(0x7f));
  // Invalid bytes and C1 controls are not text.
  EXPECT_EQ(kinds_of("\xff\xc2\x9b"), (std::vector<Kind>{Kind::ignored, Kind::ignored}));
}

TEST(KeySplitter, ALoneEscapeWaitsThenIsAKeyThatDoesNothingElse) {
  KeySplitter splitter;
  splitter.feed("\x1b");
  EXPECT_FALSE(splitter.next());  // could be the start of a sequence
  EXPECT_TRUE(splitter.pending());
  auto key = splitter.flush();  // the caller's 50 ms passed
  ASSERT_TRUE(key);
  EXPECT_EQ(key->kind, Kind::escape);
  EXPECT_FALSE(splitter.pending());
  // A sequence split across reads is one key once its end arrives.
  splitter.feed("\x1b[1");
  EXPECT_FALSE(splitter.next());
  splitter.feed("~x");
  key = splitter.next();
  ASSERT_TRUE(key);
  EXPECT_EQ(key->kind, Kind::home);
  key = splitter.next();
  ASSERT_TRUE(key);
  EXPECT_EQ(key->text, "x");
  // Half a character waits for the rest too.
  splitter.feed("\xe2\x9c");
  EXPECT_FALSE(splitter.next());
  splitter.feed("\x93");
  key = splitter.next();
  ASSERT_TRUE(key);
  EXPECT_EQ(key->text, "\xe2\x9c\x93");
  // An endless "sequence" is cut at kMaxSequence, not kept growing.
  splitter.feed("\x1b[" + std::string(100, '1'));
  key = splitter.next();
  ASSERT_TRUE(key);
  EXPECT_EQ(key->kind, Kind::ignored);
}

TEST(ReverseSearch, NarrowsGoesOlderAndFailsLikeBash) {
  const std::vector<std::string> history = {"hello world", "/join ops", "help me", "say hello"};
  ReverseSearch search(history);
  EXPECT_FALSE(search.match());
  search.type("hel");
  ASSERT_TRUE(search.match());
  EXPECT_EQ(*search.match(), 3u);  // the newest first
  EXPECT_EQ(search.offset(), 4u);
  search.older();
  EXPECT_EQ(*search.match(), 2u);
  search.older();
  EXPECT_EQ(*search.match(), 0u);
  search.older();  // nothing older: the match stays, the search says it failed
  EXPECT_EQ(*search.match(), 0u);
  EXPECT_TRUE(search.failing());
  search.type("x");
  EXPECT_TRUE(search.failing());
  search.erase();
  EXPECT_FALSE(search.failing());
  EXPECT_EQ(*search.match(), 3u);
  EXPECT_EQ(search.query(), "hel");
  const std::vector<std::string> nothing;
  ReverseSearch empty(nothing);
  empty.type("a");
  EXPECT_TRUE(empty.failing());
  EXPECT_FALSE(empty.match());
}

TEST(SendQueue, PacesKeepsOrderAndRetriesWhatWasRefused) {
  using Clock = SendQueue::Clock;
  const Clock::time_point t0{};
  SendQueue queue(Pacer(2.0, 2.0, t0), 4);
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(queue.push(req::Say{"lobby", "line " + std::to_string(i)}, "12:00:00"));
  EXPECT_FALSE(queue.push(req::Say{"lobby", "too many"}, "12:00:00"));
  auto first = queue.take(t0);
  auto second = queue.take(t0);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(queue.take(t0));  // the burst is spent
  ASSERT_TRUE(queue.next_in(t0));
  EXPECT_GT(*queue.next_in(t0), Clock::duration::zero());
  EXPECT_EQ(queue.waiting(), 2u);
  // The server refused the first for its rate: it goes first again, after a pause.
  auto refused = queue.settle(std::get<std::int64_t>(first->id));
  ASSERT_TRUE(refused);
  queue.retry(std::move(*refused), t0);
  EXPECT_FALSE(queue.settle(std::get<std::int64_t>(first->id)));  // the old id is gone
  const auto later = t0 + std::chrono::seconds(5);
  auto again = queue.take(later);
  ASSERT_TRUE(again);
  EXPECT_EQ(std::get<req::Say>(again->body).text, "line 0");
  EXPECT_TRUE(queue.settle(std::get<std::int64_t>(second->id)));
  auto next = queue.take(later);
  ASSERT_TRUE(next);
  EXPECT_EQ(std::get<req::Say>(next->body).text, "line 2");
  EXPECT_EQ(queue.items().size(), 3u);  // line 0 and 2 in flight, 3 waiting
  EXPECT_FALSE(queue.items().back().sent);
}

// Pipe mode across a reconnect: what the old session did not acknowledge goes again after the
// new session's set-up, with its ids; nothing read is dropped; the window bounds the input.
TEST(ResendQueue, ResendsWhatWasNotAcknowledgedAfterTheNewSetUp) {
  ResendQueue queue(3, 1 << 20);
  const auto line = [](std::int64_t n) {
    return req::Request{RequestId{n}, req::Say{"lobby", "line " + std::to_string(n)}};
  };
  const req::Request join{RequestId{"room lobby"}, req::Join{"lobby"}};
  EXPECT_EQ(queue.restart({join}), 0u);
  EXPECT_FALSE(queue.wants_input());  // the set-up goes first
  ASSERT_TRUE(queue.next());
  EXPECT_EQ(queue.next()->id, join.id);
  EXPECT_FALSE(queue.sent());  // set-up: not a line
  for (std::int64_t n = 1; n <= 2; ++n) {
    ASSERT_TRUE(queue.wants_input());
    queue.push_line(line(n));
    EXPECT_TRUE(queue.sent());  // first time out
  }
  EXPECT_FALSE(queue.wants_input());  // the join and two lines await their acks: window full
  EXPECT_FALSE(queue.settle(RequestId{std::int64_t{1}}));  // answers come in order
  ASSERT_TRUE(queue.settle(join.id));
  const auto first = queue.settle(RequestId{std::int64_t{1}});
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->line);
  ASSERT_TRUE(queue.wants_input());
  queue.push_line(line(3));  // read, not sent yet
  EXPECT_EQ(queue.lines_in_hand(), 2u);

  // The session is lost: line 2 (sent, not acknowledged) goes again after the new set-up, then
  // line 3; the old join is not repeated twice.
  EXPECT_EQ(queue.restart({join}), 1u);
  std::vector<RequestId> order;
  std::vector<bool> first_time;
  while (const req::Request* next = queue.next()) {
    order.push_back(next->id);
    first_time.push_back(queue.sent());
  }
  EXPECT_EQ(order, (std::vector<RequestId>{join.id, RequestId{std::int64_t{2}},
                                           RequestId{std::int64_t{3}}}));
  EXPECT_EQ(first_time, (std::vector<bool>{false, false, true}));
  for (const auto& id : order)
    EXPECT_TRUE(queue.settle(id));
  EXPECT_TRUE(queue.idle());

  // The byte bound: one large line fills a small window.
  ResendQueue small(100, 10);
  small.restart({});
  small.push_line(req::Request{RequestId{std::int64_t{1}}, req::Say{"lobby", "twelve bytes"}});
  small.sent();
  EXPECT_FALSE(small.wants_input());
  ASSERT_TRUE(small.settle(RequestId{std::int64_t{1}}));
  EXPECT_TRUE(small.wants_input());
}

class Utf8 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::setlocale(LC_CTYPE, "C.UTF-8")) GTEST_SKIP() << "no C.UTF-8 locale";
  }
  void TearDown() override { std::setlocale(LC_CTYPE, "C"); }
};

TEST_F(Utf8, WidthsAndCutsAtCharacterBoundaries) {
  EXPECT_EQ(display_width("abc"), 3u);
  EXPECT_EQ(display_width("\xc3\xa9t\xc3\xa9"), 3u);         // été
  EXPECT_EQ(display_width("\xe4\xbd\xa0\xe5\xa5\xbd"), 4u);  // 你好: wide
  EXPECT_EQ(visible_width("\x1b[38;5;31malice\x1b[0m: \xc3\xa9"), 8u);
  EXPECT_EQ(fit_width("\xe4\xbd\xa0\xe5\xa5\xbd", 3), "\xe4\xbd\xa0");
  EXPECT_EQ(split_point("a\xc3\xa9z", 2), "a");
  EXPECT_EQ(split_point("\xe2\x9c\x93", 1), "\xe2\x9c\x93");  // always progress
  EXPECT_EQ(last_character_start("a\xe2\x9c\x93"), 1u);
  EXPECT_EQ(last_character_start("ab"), 1u);
  EXPECT_EQ(last_character_start(""), 0u);
}

TEST(Commands, RoomsWithHashSeveralAtOnceSwitchAndIgnore) {
  const auto join = std::get<JoinRooms>(parse_input("/join #ops,dev,,#qa", "lobby"));
  EXPECT_EQ(join.rooms, (std::vector<std::string>{"ops", "dev", "qa"}));
  EXPECT_EQ(std::get<SendRequest>(parse_input("/part #ops", "lobby")).body,
            req::Body(req::Part{"ops"}));
  EXPECT_EQ(std::get<SwitchRoom>(parse_input("/switch #dev", "lobby")).room, "dev");
  EXPECT_EQ(std::get<Ignore>(parse_input("/ignore bob", "lobby")).nick, "bob");
  EXPECT_FALSE(std::get<Ignore>(parse_input("/ignore", "lobby")).nick);
  EXPECT_TRUE(std::holds_alternative<InputError>(parse_input("/join #", "lobby")));
  EXPECT_TRUE(std::holds_alternative<InputError>(parse_input("/switch", "lobby")));
  EXPECT_EQ(room_name("#x"), "x");
}

TEST(Render, NicksInViewGetDistinctColoursWhileTheyLast) {
  NickColours colours;
  std::set<std::size_t> seen;
  for (int i = 0; i < 24; ++i)
    seen.insert(colours.of("nick" + std::to_string(i)));
  EXPECT_EQ(seen.size(), 24u) << "24 nicks, 24 colours";
  EXPECT_EQ(colours.of("NICK3"), colours.of("nick3"));  // one nick to the server, one colour
  const std::size_t freed = colours.of("nick5");
  colours.forget("nick5");
  EXPECT_EQ(colours.of("newcomer"), freed);  // the only free colour
  colours.rename("nick7", "seven");
  EXPECT_EQ(colours.of("seven"), colours.of("seven"));
  const std::string painted = paint_nick("bob", true, &colours);
  EXPECT_NE(painted.find("\x1b[38;5;"), std::string::npos);
  EXPECT_EQ(paint_nick("bob", false, &colours), "bob");
}

TEST(Render, MentionsAreWholeWordsInAnyCase) {
  EXPECT_TRUE(mentions("alice: hi", "alice"));
  EXPECT_TRUE(mentions("hi Alice!", "alice"));
  EXPECT_TRUE(mentions("thanks alice.", "alice"));
  EXPECT_FALSE(mentions("malice", "alice"));
  EXPECT_FALSE(mentions("alice_b here", "alice"));
  EXPECT_FALSE(mentions("", "alice"));
}

// Issue 14 item 8: `||` ends with the first branch that succeeds, so a branch that throws must
// be guarded, or the race waits for the other branch forever.
TEST(Guarded, ABranchThatFailsEndsTheRace) {
  using namespace boost::asio::experimental::awaitable_operators;
  boost::asio::io_context io;
  auto failing = []() -> boost::asio::awaitable<void> {
    throw ClientError(Exit::closed, "the branch failed");
    co_return;
  };
  auto forever = [&io]() -> boost::asio::awaitable<void> {
    boost::asio::steady_timer timer(io, std::chrono::hours(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
  };
  std::optional<std::string> error;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto outcome = co_await (guarded(failing()) || guarded(forever()));
        try {
          rethrow_branch_error(outcome);
        } catch (const ClientError& e) {
          error = e.what();
        }
      },
      boost::asio::detached);
  io.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(error) << "the race did not end";
  EXPECT_EQ(*error, "the branch failed");
}

}  // namespace
}  // namespace parley::client
