// The hub (PROTOCOL.md 4): nicks, rooms and relay, driven through fake members that record
// every delivered event so each test can assert on exactly who got what.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "hub.hpp"
#include "hub_fakes.hpp"
#include "parley/concat.hpp"
#include "parley/event.hpp"
#include "parley/request.hpp"

namespace parley::server {
namespace {

using namespace std::string_literals;
using testing_support::FakeMember;
using testing_support::suffixes;

const auto kNow = std::chrono::system_clock::time_point{} + std::chrono::seconds{1714564800} +
                  std::chrono::milliseconds{123};
constexpr std::string_view kNowText = "2024-05-01T12:00:00.123Z";

class HubTest : public testing::Test {
 protected:
  HubTest() : hub_(suffixes({0xa001, 0xa002, 0xa003, 0xa004, 0xa005, 0xa006})) {}

  // Attaches three anonymous sessions 1, 2, 3 named alice, bob, carol, and forgets the
  // traffic so far.
  void attach_three() {
    hub_.attach(1, a_, "");
    hub_.attach(2, b_, "");
    hub_.attach(3, c_, "");
    send(1, req::Nick{"alice"});
    send(2, req::Nick{"bob"});
    send(3, req::Nick{"carol"});
    clear_all();
  }

  AfterRequest send(SessionId id, req::Body body, RequestId rid = {}) {
    return hub_.handle(id, req::Request{std::move(rid), std::move(body)}, kNow);
  }

  void clear_all() {
    a_.clear();
    b_.clear();
    c_.clear();
    d_.clear();
  }

  Hub hub_;
  FakeMember a_, b_, c_, d_;
};

TEST_F(HubTest, AttachAssignsDistinctGuestNicks) {
  EXPECT_EQ(hub_.attach(1, a_, ""), "guest-a001");
  EXPECT_EQ(hub_.attach(2, b_, ""), "guest-a002");
  EXPECT_EQ(hub_.nick_of(1), "guest-a001");
  EXPECT_EQ(hub_.nick_of(9), std::nullopt);
  EXPECT_EQ(hub_.stats().sessions, 2u);
  EXPECT_TRUE(a_.delivered.empty());
}

TEST(Hub, GuestNickCollisionRetries) {
  Hub hub(suffixes({0x00ff, 0x00ff, 0x1234}));
  FakeMember a, b;
  EXPECT_EQ(hub.attach(1, a, ""), "guest-00ff");
  EXPECT_EQ(hub.attach(2, b, ""), "guest-1234");
}

TEST(Hub, GuestNickCollisionIsCaseInsensitive) {
  // A nick held under another case (here an owner's, from authorized_keys: users cannot pick
  // guest- names themselves) is never handed out again.
  Hub hub(suffixes({0xabcd, 0xabcd, 0x0002}));
  hub.set_reserved_nicks({{"fp-x", "Guest-AbCd"}});
  FakeMember a, b;
  EXPECT_EQ(hub.attach(1, a, "fp-x"), "Guest-AbCd");
  EXPECT_EQ(hub.attach(2, b, ""), "guest-0002");
}

TEST(Hub, GuestNickAvoidsReservedNicks) {
  Hub hub(suffixes({0xbeef, 0x0042}));
  hub.set_reserved_nicks({{"fp-x", "Guest-BEEF"}});
  FakeMember a;
  EXPECT_EQ(hub.attach(1, a, ""), "guest-0042");
}

TEST(Hub, GuestNickFallsBackToCounterWhenGeneratorIsStuck) {
  Hub hub(suffixes({0x0007}));
  FakeMember a, b, c;
  EXPECT_EQ(hub.attach(1, a, ""), "guest-0007");
  const std::string second = hub.attach(2, b, "");
  const std::string third = hub.attach(3, c, "");
  EXPECT_NE(second, "guest-0007");
  EXPECT_NE(third, "guest-0007");
  EXPECT_NE(second, third);
  EXPECT_TRUE(second.starts_with("guest-"));
  EXPECT_EQ(hub.stats().sessions, 3u);
}

TEST_F(HubTest, SayRelaysToOthersInSeqOrderWithSharedSerialization) {
  attach_three();
  for (SessionId id : {1, 2, 3})
    send(id, req::Join{"lobby"});
  clear_all();

  send(1, req::Say{"lobby", "one"});
  send(2, req::Say{"lobby", "two"});
  send(1, req::Say{"lobby", "three"});

  EXPECT_EQ(c_.all<evt::Message>(),
            (std::vector<evt::Message>{{"lobby", "alice", "one", std::string(kNowText), 1},
                                       {"lobby", "bob", "two", std::string(kNowText), 2},
                                       {"lobby", "alice", "three", std::string(kNowText), 3}}));
  // The sender never gets its own say back.
  ASSERT_EQ(a_.all<evt::Message>().size(), 1u);
  EXPECT_EQ(a_.all<evt::Message>()[0].seq, 2u);
  ASSERT_EQ(b_.all<evt::Message>().size(), 2u);
  EXPECT_EQ(b_.all<evt::Message>()[0].seq, 1u);
  EXPECT_EQ(b_.all<evt::Message>()[1].seq, 3u);
  // No id, no ack.
  EXPECT_EQ(a_.delivered.size(), 1u);
  // One serialization per say, handed to every recipient.
  EXPECT_EQ(b_.data[0], c_.data[0]);
  EXPECT_EQ(hub_.stats().messages_relayed, 6u);
}

TEST_F(HubTest, SayAckedWithIdAndRequiresMembership) {
  attach_three();
  send(1, req::Join{"lobby"});
  a_.clear();
  send(1, req::Say{"lobby", "hi"}, std::int64_t{7});
  EXPECT_EQ(a_.only<evt::Ack>().id, RequestId{std::int64_t{7}});
  a_.clear();

  send(2, req::Say{"lobby", "secret text"}, "s1"s);
  const auto error = b_.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::not_member);
  EXPECT_EQ(error.id, RequestId{"s1"s});
  EXPECT_EQ(error.message.find("secret"), std::string::npos);
  send(2, req::Say{"nowhere", "x"});
  EXPECT_EQ(b_.all<evt::Error>().size(), 2u);
  EXPECT_EQ(b_.all<evt::Error>()[1].id, RequestId{});
  EXPECT_TRUE(a_.delivered.empty());
}

// PROTOCOL.md 6.2: a room name's seq never goes back, not even when the room empties and is
// created again (section 4's "starts again at 1" is replaced).
TEST_F(HubTest, SeqGoesOnUpwardsWhenRoomIsRecreated) {
  attach_three();
  send(1, req::Join{"Lobby"});
  send(2, req::Join{"lobby"});
  send(1, req::Say{"lobby", "a"});
  send(1, req::Say{"LOBBY", "b"});
  EXPECT_EQ(b_.all<evt::Message>().back().seq, 2u);
  EXPECT_EQ(b_.all<evt::Message>().back().room, "Lobby");
  send(1, req::Part{"lobby"});
  send(2, req::Part{"lobby"});
  EXPECT_EQ(hub_.stats().rooms, 0u);

  send(2, req::Join{"lobby"});
  send(3, req::Join{"lobby"});
  clear_all();
  send(2, req::Say{"lobby", "again"});
  const auto message = c_.only<evt::Message>();
  EXPECT_EQ(message.seq, 3u);        // after every seq of this run
  EXPECT_EQ(message.room, "lobby");  // the new room's own display form
}

// A run's seqs come from a lease (SeqLease): above its base, and past its limit only once the
// lease was extended.
TEST_F(HubTest, SeqsComeFromTheLease) {
  std::vector<std::uint64_t> extended;
  std::uint64_t limit = 1003;
  hub_.set_seq_lease(1000, limit, [&] {
    extended.push_back(limit);
    return limit += 2;
  });
  attach_three();
  send(1, req::Join{"a"});
  send(2, req::Join{"a"});
  send(1, req::Join{"b"});
  send(2, req::Join{"b"});
  for (const char* room : {"a", "a", "b", "a", "b", "b"})
    send(1, req::Say{room, "x"});
  std::vector<std::uint64_t> seqs;
  for (const auto& m : b_.all<evt::Message>())
    seqs.push_back(m.seq);
  // Both rooms start after the base; "b" starts at the base too (nothing issued yet when it was
  // made), so the two rooms interleave but each only grows.
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1001, 1002, 1001, 1003, 1002, 1003}));
  EXPECT_TRUE(extended.empty());
  send(1, req::Say{"a", "x"});  // 1004: past the limit of 1003
  EXPECT_EQ(extended, std::vector<std::uint64_t>{1003});
  EXPECT_EQ(b_.all<evt::Message>().back().seq, 1004u);
  // A room made now starts after everything issued.
  send(3, req::Join{"c"});
  send(2, req::Join{"c"});
  send(3, req::Say{"c", "x"});
  EXPECT_EQ(b_.all<evt::Message>().back().seq, 1005u);
}

// PROTOCOL.md 6.9: a session authenticated with the key of a nick's holder takes the nick back
// when it asks to (takeover): the holder, its ghost, is closed with code 11 and leaves its rooms.
TEST(HubTakeover, OnlyTheSameKeyAskingForItTakesANickBack) {
  Hub hub([] { return std::uint16_t{0x1234}; });
  FakeMember ghost, heir, stranger, anonymous;
  hub.attach(1, ghost, "SHA256:key-a");
  hub.attach(2, heir, "SHA256:key-a");
  hub.attach(3, stranger, "SHA256:key-b");
  hub.attach(4, anonymous, "");
  const auto now = std::chrono::system_clock::now();
  auto handle = [&](SessionId id, req::Body body) {
    hub.handle(id, req::Request{RequestId{std::int64_t{1}}, std::move(body)}, now);
  };
  handle(1, req::Nick{"alice"});
  handle(1, req::Join{"lobby"});
  handle(3, req::Join{"lobby"});
  stranger.delivered.clear();

  // Without the flag, another key, or no key: taken, as before; nobody is closed.
  handle(2, req::Nick{"alice"});
  handle(3, req::Nick{"alice", true});
  handle(4, req::Nick{"alice", true});
  for (FakeMember* m : {&heir, &stranger, &anonymous})
    EXPECT_EQ(m->all<evt::Error>().back().code, ErrorCode::nick_taken);
  EXPECT_TRUE(ghost.ended.empty());
  EXPECT_EQ(hub.nick_of(1), "alice");

  // The same key, asking: the ghost goes (code 11), its room sees it quit, the heir has the nick.
  heir.delivered.clear();
  stranger.delivered.clear();
  handle(2, req::Nick{"alice", true});
  ASSERT_EQ(ghost.ended.size(), 1u);
  EXPECT_EQ(ghost.ended[0].first, StatusCode::replaced);
  EXPECT_FALSE(hub.nick_of(1));
  EXPECT_EQ(hub.nick_of(2), "alice");
  EXPECT_EQ(heir.only<evt::Ack>().id, RequestId{std::int64_t{1}});
  const auto quit = stranger.only<evt::Quit>();
  EXPECT_EQ(quit.nick, "alice");
  EXPECT_EQ(quit.reason, "replaced");
  hub.detach(1, "replaced");  // the ghost's session ends later: nothing more happens
  EXPECT_EQ(stranger.all<evt::Quit>().size(), 1u);
}

TEST_F(HubTest, JoinAnnouncesToOthersAndAcks) {
  attach_three();
  send(1, req::Join{"Lobby"}, std::int64_t{1});
  EXPECT_EQ(a_.only<evt::Ack>().id, RequestId{std::int64_t{1}});
  clear_all();
  send(2, req::Join{"LOBBY"});
  EXPECT_EQ(a_.only<evt::Joined>(), (evt::Joined{"Lobby", "bob"}));
  EXPECT_TRUE(b_.delivered.empty());  // no id: no ack, and no joined for oneself
  EXPECT_TRUE(c_.delivered.empty());
  EXPECT_EQ(hub_.stats().rooms, 1u);
}

TEST_F(HubTest, JoinTwiceAcksAndAnnouncesNothing) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(2, req::Join{"lobby"});
  clear_all();
  send(2, req::Join{"Lobby"}, "again"s);
  EXPECT_EQ(b_.only<evt::Ack>().id, RequestId{"again"s});
  EXPECT_TRUE(a_.delivered.empty());
  send(1, req::Who{"lobby"});
  EXPECT_EQ(a_.only<evt::Who>().nicks, (std::vector<std::string>{"alice", "bob"}));
}

TEST_F(HubTest, PartAnnouncesAcksAndDeletesEmptyRoom) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(2, req::Join{"lobby"});
  clear_all();
  send(2, req::Part{"LOBBY"}, std::int64_t{3});
  EXPECT_EQ(b_.only<evt::Ack>().id, RequestId{std::int64_t{3}});
  EXPECT_EQ(a_.only<evt::Parted>(), (evt::Parted{"lobby", "bob"}));
  EXPECT_EQ(hub_.stats().rooms, 1u);
  clear_all();
  send(1, req::Part{"lobby"});
  EXPECT_TRUE(a_.delivered.empty());
  EXPECT_EQ(hub_.stats().rooms, 0u);
}

TEST_F(HubTest, PartNotMember) {
  attach_three();
  send(1, req::Join{"lobby"});
  clear_all();
  send(2, req::Part{"lobby"}, std::int64_t{4});
  auto error = b_.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::not_member);
  EXPECT_EQ(error.id, RequestId{std::int64_t{4}});
  b_.clear();
  send(2, req::Part{"missing"});
  EXPECT_EQ(b_.only<evt::Error>().code, ErrorCode::not_member);
  EXPECT_TRUE(a_.delivered.empty());
  EXPECT_EQ(hub_.stats().rooms, 1u);
}

TEST_F(HubTest, WhoListsSortedDisplayNicksWithoutMembership) {
  attach_three();
  send(3, req::Join{"Lobby"});
  send(1, req::Join{"lobby"});
  send(2, req::Nick{"Bob"});
  send(2, req::Join{"lobby"});
  clear_all();
  send(3, req::Nick{"zed"});
  send(2, req::Part{"lobby"});
  b_.clear();
  send(2, req::Who{"LOBBY"}, "w"s);
  const auto who = b_.only<evt::Who>();
  EXPECT_EQ(who.room, "Lobby");
  EXPECT_EQ(who.nicks, (std::vector<std::string>{"alice", "zed"}));
  EXPECT_EQ(who.id, RequestId{"w"s});

  send(2, req::Join{"lobby"});
  b_.clear();
  send(2, req::Who{"lobby"});
  EXPECT_EQ(b_.only<evt::Who>().nicks, (std::vector<std::string>{"alice", "Bob", "zed"}));
}

TEST_F(HubTest, WhoOnMissingRoomIsEmpty) {
  attach_three();
  send(1, req::Who{"Nowhere"}, std::int64_t{5});
  EXPECT_EQ(a_.only<evt::Who>(), (evt::Who{"Nowhere", {}, RequestId{std::int64_t{5}}}));
  a_.clear();
  send(1, req::Who{"nowhere"});
  EXPECT_EQ(a_.only<evt::Who>().id, RequestId{});
  EXPECT_EQ(hub_.stats().rooms, 0u);
}

TEST_F(HubTest, RoomsListsNamesAndCountsSorted) {
  attach_three();
  send(1, req::Rooms{}, std::int64_t{1});
  EXPECT_EQ(a_.only<evt::Rooms>(), (evt::Rooms{{}, RequestId{std::int64_t{1}}}));
  send(1, req::Join{"zoo"});
  send(2, req::Join{"zoo"});
  send(3, req::Join{"Beta"});
  send(1, req::Join{"alpha"});
  send(2, req::Join{"ALPHA"});
  send(3, req::Join{"alpha"});
  a_.clear();
  send(1, req::Rooms{}, "r"s);
  EXPECT_EQ(a_.only<evt::Rooms>(),
            (evt::Rooms{{{"alpha", 3}, {"Beta", 1}, {"zoo", 2}}, RequestId{"r"s}}));
  EXPECT_EQ(hub_.stats().rooms, 3u);
}

TEST_F(HubTest, PingPongs) {
  attach_three();
  send(1, req::Ping{}, std::int64_t{-9});
  EXPECT_EQ(a_.only<evt::Pong>().id, RequestId{std::int64_t{-9}});
  a_.clear();
  send(1, req::Ping{});
  EXPECT_EQ(a_.only<evt::Pong>().id, RequestId{});
  a_.clear();
  EXPECT_EQ(send(1, req::Pong{}, std::int64_t{1}), AfterRequest::keep_open);
  EXPECT_TRUE(a_.delivered.empty());
}

TEST_F(HubTest, NickTakenIsCaseInsensitive) {
  attach_three();
  send(2, req::Nick{"ALICE"}, std::int64_t{2});
  const auto error = b_.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::nick_taken);
  EXPECT_EQ(error.id, RequestId{std::int64_t{2}});
  EXPECT_EQ(hub_.nick_of(2), "bob");
}

TEST_F(HubTest, NickBadNameIsRejectedDefensively) {
  attach_three();
  send(1, req::Nick{"has space"}, "n"s);
  EXPECT_EQ(a_.only<evt::Error>().code, ErrorCode::bad_name);
  a_.clear();
  send(1, req::Join{""});
  EXPECT_EQ(a_.only<evt::Error>().code, ErrorCode::bad_name);
  EXPECT_EQ(hub_.nick_of(1), "alice");
  EXPECT_EQ(hub_.stats().rooms, 0u);
}

TEST_F(HubTest, NickCaseChangeSucceedsAndIsAnnounced) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(2, req::Join{"lobby"});
  clear_all();
  send(1, req::Nick{"Alice"}, std::int64_t{1});
  EXPECT_EQ(a_.only<evt::Ack>().id, RequestId{std::int64_t{1}});
  EXPECT_EQ(b_.only<evt::NickChanged>(), (evt::NickChanged{"alice", "Alice"}));
  EXPECT_EQ(hub_.nick_of(1), "Alice");
  clear_all();
  // The same nick, same case: acked, nothing changed, nothing announced.
  send(1, req::Nick{"Alice"}, std::int64_t{2});
  EXPECT_EQ(a_.only<evt::Ack>().id, RequestId{std::int64_t{2}});
  EXPECT_TRUE(b_.delivered.empty());
  // Every spelling of the nick stays ours: others still find it taken.
  send(2, req::Nick{"alice"});
  EXPECT_EQ(b_.only<evt::Error>().code, ErrorCode::nick_taken);
}

TEST_F(HubTest, NickEventOncePerSharerAndOnlyToSharers) {
  attach_three();
  hub_.attach(4, d_, "");
  for (const char* room : {"one", "two", "three"}) {
    send(1, req::Join{room});
    send(2, req::Join{room});
  }
  send(3, req::Join{"two"});
  send(4, req::Join{"elsewhere"});
  clear_all();

  send(1, req::Nick{"alicia"});
  EXPECT_EQ(b_.only<evt::NickChanged>(), (evt::NickChanged{"alice", "alicia"}));
  EXPECT_EQ(c_.only<evt::NickChanged>(), (evt::NickChanged{"alice", "alicia"}));
  EXPECT_TRUE(d_.delivered.empty());
  EXPECT_TRUE(a_.delivered.empty());  // no id: not even an ack
  EXPECT_EQ(b_.data[0], c_.data[0]);
  // The old nick is free for others.
  send(4, req::Nick{"ALICE"});
  EXPECT_EQ(hub_.nick_of(4), "ALICE");
  // And the new one is taken.
  send(2, req::Nick{"Alicia"});
  EXPECT_EQ(b_.all<evt::Error>().at(0).code, ErrorCode::nick_taken);
}

// PROTOCOL.md 6.1: the acks say where each member's stream of a room starts and ends.
TEST(Hub, AcksCarryTheRoomsSeq) {
  Hub hub(suffixes({0x0001, 0x0002}));
  FakeMember a, b;
  hub.attach(1, a, "");
  hub.attach(2, b, "");
  auto request = [&](SessionId id, std::int64_t rid, req::Body body) {
    hub.handle(id, req::Request{RequestId{rid}, std::move(body)}, kNow);
  };
  auto last_ack_seq = [](const FakeMember& m) { return m.all<evt::Ack>().back().seq; };
  request(1, 1, req::Join{"room"});
  EXPECT_EQ(last_ack_seq(a), 0u) << "a room that has had no message";
  request(1, 2, req::Say{"room", "one"});
  EXPECT_EQ(last_ack_seq(a), 1u);
  request(1, 3, req::Say{"room", "two"});
  EXPECT_EQ(last_ack_seq(a), 2u);
  request(2, 4, req::Join{"room"});
  EXPECT_EQ(last_ack_seq(b), 2u) << "b is sent what comes after 2";
  request(1, 5, req::Say{"room", "three"});
  request(2, 6, req::Part{"room"});
  EXPECT_EQ(last_ack_seq(b), 3u) << "b was sent up to 3";
  ASSERT_EQ(b.all<evt::Message>().size(), 1u);
  EXPECT_EQ(b.all<evt::Message>().front().seq, 3u);
  request(1, 7, req::Nick{"alice"});
  EXPECT_FALSE(last_ack_seq(a).has_value()) << "other acks carry no seq";
}

TEST(Hub, GuestNamesAreTheServers) {
  Hub hub(suffixes({0x0001, 0x0002}));
  FakeMember a, b;
  EXPECT_EQ(hub.attach(1, a, ""), "guest-0001");
  EXPECT_EQ(hub.attach(2, b, ""), "guest-0002");
  for (const char* nick : {"guest-0003", "Guest-x", "GUEST-0001"}) {
    b.clear();
    hub.handle(2, req::Request{std::int64_t{7}, req::Nick{nick}}, kNow);
    EXPECT_EQ(b.only<evt::Error>().code, ErrorCode::nick_reserved) << nick;
  }
  EXPECT_EQ(hub.nick_of(2), "guest-0002");
  // A guest may change the case of the name it was given, and leave it.
  hub.handle(1, req::Request{{}, req::Nick{"GUEST-0001"}}, kNow);
  EXPECT_EQ(hub.nick_of(1), "GUEST-0001");
  hub.handle(1, req::Request{{}, req::Nick{"guests"}}, kNow);
  EXPECT_EQ(hub.nick_of(1), "guests") << "only the prefix with its dash is reserved";
}

TEST(Hub, ReservedNicks) {
  Hub hub(suffixes({0x0001, 0x0002, 0x0003, 0x0004}));
  hub.set_reserved_nicks({{"fp-root", "Root"}, {"fp-eve", "eve"}});
  FakeMember owner, anon, other_key, twin;

  // The owner starts with its nick, as configured.
  EXPECT_EQ(hub.attach(1, owner, "fp-root"), "Root");
  // Another session with the same key finds it taken and gets a guest nick.
  EXPECT_EQ(hub.attach(4, twin, "fp-root"), "guest-0001");

  EXPECT_EQ(hub.attach(2, anon, ""), "guest-0002");
  hub.handle(2, req::Request{std::int64_t{1}, req::Nick{"EVE"}}, kNow);
  auto error = anon.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::nick_reserved);
  EXPECT_EQ(error.id, RequestId{std::int64_t{1}});

  EXPECT_EQ(hub.attach(3, other_key, "fp-root"), "guest-0003");
  hub.handle(3, req::Request{{}, req::Nick{"eve"}}, kNow);
  EXPECT_EQ(other_key.only<evt::Error>().code, ErrorCode::nick_reserved);

  // Taken beats reserved when the owner already holds it.
  anon.clear();
  hub.handle(2, req::Request{{}, req::Nick{"root"}}, kNow);
  EXPECT_EQ(anon.only<evt::Error>().code, ErrorCode::nick_taken);

  // The owner may rename away and back, and change case.
  hub.handle(1, req::Request{{}, req::Nick{"rooty"}}, kNow);
  hub.handle(1, req::Request{{}, req::Nick{"ROOT"}}, kNow);
  EXPECT_EQ(hub.nick_of(1), "ROOT");
  // The twin holds the same key, so once the nick is free it may claim it too.
  hub.handle(1, req::Request{{}, req::Nick{"rooty"}}, kNow);
  hub.handle(4, req::Request{{}, req::Nick{"root"}}, kNow);
  EXPECT_EQ(hub.nick_of(4), "root");
  EXPECT_TRUE(owner.delivered.empty());
}

TEST(Hub, ReservedNickOwnerGetsGuestWhenNickIsHeldSinceBeforeReload) {
  Hub hub(suffixes({0x0001, 0x0002}));
  FakeMember early, owner;
  hub.attach(1, early, "");
  hub.handle(1, req::Request{{}, req::Nick{"boss"}}, kNow);
  hub.set_reserved_nicks({{"fp-boss", "boss"}});
  EXPECT_EQ(hub.nick_of(1), "boss");  // a reload does not take a nick away
  EXPECT_EQ(hub.attach(2, owner, "fp-boss"), "guest-0002");
  hub.detach(1, "bye");
  hub.handle(2, req::Request{{}, req::Nick{"boss"}}, kNow);
  EXPECT_EQ(hub.nick_of(2), "boss");
  // Reloading with no reservations frees the name for anyone.
  hub.set_reserved_nicks({});
  FakeMember late;
  hub.attach(3, late, "");
  hub.handle(2, req::Request{{}, req::Nick{"chief"}}, kNow);
  hub.handle(3, req::Request{{}, req::Nick{"boss"}}, kNow);
  EXPECT_EQ(hub.nick_of(3), "boss");
}

TEST_F(HubTest, DirectMessages) {
  attach_three();
  send(1, req::Msg{"BOB", "psst"}, std::int64_t{8});
  EXPECT_EQ(b_.only<evt::Direct>(), (evt::Direct{"alice", "psst", std::string(kNowText)}));
  EXPECT_EQ(a_.only<evt::Ack>().id, RequestId{std::int64_t{8}});
  EXPECT_TRUE(c_.delivered.empty());
  clear_all();

  send(1, req::Msg{"nobody", "secret words"}, "m"s);
  const auto error = a_.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::no_such_nick);
  EXPECT_EQ(error.id, RequestId{"m"s});
  EXPECT_EQ(error.message.find("secret"), std::string::npos);
  EXPECT_EQ(a_.delivered[0].find("secret"), std::string::npos);
  a_.clear();

  send(1, req::Msg{"alice", "note to self"});
  EXPECT_EQ(a_.only<evt::Direct>(), (evt::Direct{"alice", "note to self", std::string(kNowText)}));
  EXPECT_EQ(hub_.stats().messages_relayed, 2u);
}

TEST_F(HubTest, QuitAcksAndAsksToClose) {
  attach_three();
  EXPECT_EQ(send(1, req::Quit{"bye"}, std::int64_t{10}), AfterRequest::close_normally);
  EXPECT_EQ(a_.only<evt::Ack>().id, RequestId{std::int64_t{10}});
  a_.clear();
  EXPECT_EQ(send(2, req::Quit{}), AfterRequest::close_normally);
  EXPECT_TRUE(b_.delivered.empty());
  // Quitting is the session's business; the hub keeps it until detach.
  EXPECT_EQ(hub_.nick_of(1), "alice");
  EXPECT_EQ(send(3, req::Join{"x"}), AfterRequest::keep_open);
}

TEST_F(HubTest, DetachSendsOneQuitPerOtherMemberAndDeletesEmptyRooms) {
  attach_three();
  hub_.attach(4, d_, "");
  send(1, req::Join{"one"});
  send(1, req::Join{"two"});
  send(1, req::Join{"solo"});
  send(2, req::Join{"one"});
  send(2, req::Join{"two"});
  send(3, req::Join{"two"});
  send(4, req::Join{"other"});
  clear_all();

  hub_.detach(1, "connection lost");
  EXPECT_EQ(b_.only<evt::Quit>(), (evt::Quit{"alice", "connection lost"s}));
  EXPECT_EQ(c_.only<evt::Quit>(), (evt::Quit{"alice", "connection lost"s}));
  EXPECT_EQ(b_.data[0], c_.data[0]);
  EXPECT_TRUE(d_.delivered.empty());
  EXPECT_TRUE(a_.delivered.empty());
  EXPECT_EQ(hub_.nick_of(1), std::nullopt);
  EXPECT_EQ(hub_.stats().sessions, 3u);
  EXPECT_EQ(hub_.stats().rooms, 3u);  // solo is gone; one, two, other remain

  // Idempotent.
  clear_all();
  hub_.detach(1, "again");
  EXPECT_TRUE(b_.delivered.empty());
  EXPECT_TRUE(c_.delivered.empty());
  EXPECT_EQ(hub_.stats().sessions, 3u);

  // The nick is free, and the rooms no longer list alice.
  send(2, req::Nick{"alice"});
  EXPECT_EQ(hub_.nick_of(2), "alice");
  send(3, req::Who{"two"});
  EXPECT_EQ(c_.all<evt::Who>().at(0).nicks, (std::vector<std::string>{"alice", "carol"}));

  hub_.detach(2, "quit");
  hub_.detach(3, "quit");
  hub_.detach(4, "quit");
  EXPECT_EQ(hub_.stats().sessions, 0u);
  EXPECT_EQ(hub_.stats().rooms, 0u);
}

TEST_F(HubTest, UnknownSessionIsIgnored) {
  attach_three();
  send(1, req::Join{"lobby"});
  clear_all();
  EXPECT_EQ(send(42, req::Join{"lobby"}, std::int64_t{1}), AfterRequest::keep_open);
  EXPECT_EQ(send(42, req::Quit{}, std::int64_t{1}), AfterRequest::keep_open);
  hub_.reject(42, req::Rejection{ErrorCode::bad_request, "bad", std::int64_t{1}});
  hub_.detach(42, "x");
  EXPECT_EQ(hub_.nick_of(42), std::nullopt);

  hub_.detach(3, "gone");
  EXPECT_EQ(send(3, req::Say{"lobby", "ghost"}), AfterRequest::keep_open);
  EXPECT_TRUE(a_.delivered.empty());
  EXPECT_TRUE(c_.delivered.empty());
  EXPECT_EQ(hub_.stats().sessions, 2u);
}

TEST_F(HubTest, RejectSendsErrorWithId) {
  attach_three();
  hub_.reject(2, req::Rejection{ErrorCode::too_long, "text too long", "t"s});
  EXPECT_EQ(b_.only<evt::Error>(), (evt::Error{ErrorCode::too_long, "text too long", "t"s}));
  b_.clear();
  hub_.reject(2, req::Rejection{ErrorCode::unknown_type, "unknown type", {}});
  EXPECT_EQ(b_.only<evt::Error>().id, RequestId{});
  EXPECT_TRUE(a_.delivered.empty());
}

TEST_F(HubTest, AttachingAnAttachedIdReplacesIt) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(2, req::Join{"lobby"});
  clear_all();
  EXPECT_EQ(hub_.attach(1, d_, ""), "guest-a004");
  EXPECT_EQ(b_.only<evt::Quit>(), (evt::Quit{"alice", "replaced"s}));
  EXPECT_EQ(hub_.stats().sessions, 3u);
  send(1, req::Ping{});
  EXPECT_EQ(d_.only<evt::Pong>().id, RequestId{});
  EXPECT_TRUE(a_.delivered.empty());
}

struct RecordingObserver : HubObserver {
  std::vector<std::string> seen;
  void on_nick(SessionId id, std::string_view o, std::string_view n) override {
    seen.push_back("nick " + std::to_string(id) + " " + std::string(o) + "->" + std::string(n));
  }
  void on_join(SessionId id, std::string_view nick, std::string_view room) override {
    seen.push_back("join " + std::to_string(id) + " " + std::string(nick) + " " +
                   std::string(room));
  }
  void on_part(SessionId id, std::string_view nick, std::string_view room) override {
    seen.push_back("part " + std::to_string(id) + " " + std::string(nick) + " " +
                   std::string(room));
  }
};

TEST(HubObserverTest, SeesSuccessfulNickJoinPartOnly) {
  Hub hub([] { return std::uint16_t{0x1234}; });
  RecordingObserver observer;
  hub.set_observer(&observer);
  struct Sink : Member {
    void deliver(std::string_view) override {}
    std::size_t max_event_bytes() const override { return 65536; }
    std::size_t reply_budget_bytes() const override { return 65536; }
    void end_session(StatusCode, std::string_view) override {}
  } sink;
  hub.attach(7, sink, "");
  const auto now = std::chrono::system_clock::now();
  hub.handle(7, req::Request{{}, req::Nick{"alice"}}, now);
  hub.handle(7, req::Request{{}, req::Join{"Lobby"}}, now);
  hub.handle(7, req::Request{{}, req::Join{"lobby"}}, now);    // already a member: nothing new
  hub.handle(7, req::Request{{}, req::Part{"nowhere"}}, now);  // not_member: nothing
  hub.handle(7, req::Request{{}, req::Part{"lobby"}}, now);
  EXPECT_EQ(observer.seen, (std::vector<std::string>{"nick 7 guest-1234->alice",
                                                     "join 7 alice Lobby", "part 7 alice Lobby"}));
}

}  // namespace
}  // namespace parley::server

namespace parley::server {
namespace {

// PROTOCOL.md 6.5: listings in pages, each within the requester's max_frame, and cheap to ask.
TEST(HubPaging, RoomsComeInPagesThatEndWithNext) {
  std::uint16_t next_suffix = 0;
  Hub hub([&] { return ++next_suffix; });
  FakeMember m;
  hub.attach(1, m, "");
  hub.set_limits({100000, 100000});
  for (int i = 0; i < 250; ++i)
    hub.handle(1, req::Request{{}, req::Join{concat("r", std::to_string(1000 + i))}}, kNow);
  std::vector<std::string> seen;
  std::optional<std::string> after;
  for (int page = 0; page < 10; ++page) {
    m.clear();
    req::Rooms rooms;
    rooms.after = after;
    rooms.limit = 100;
    hub.handle(1, req::Request{std::int64_t{page}, rooms}, kNow);
    const auto reply = m.only<evt::Rooms>();
    EXPECT_LE(reply.rooms.size(), 100u);
    for (const auto& r : reply.rooms)
      seen.push_back(r.name);
    if (!reply.next) break;
    EXPECT_EQ(*reply.next, reply.rooms.back().name);
    after = reply.next;
  }
  ASSERT_EQ(seen.size(), 250u) << "every room once, across three pages";
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 250u);
}

TEST(HubPaging, APageFitsTheRequestersFrame) {
  std::uint16_t next_suffix = 0;
  Hub hub([&] { return ++next_suffix; });
  FakeMember small, other;
  small.event_limit = 2000;  // a member whose max_frame leaves room for little
  hub.attach(1, small, "");
  hub.attach(2, other, "");
  hub.set_limits({100000, 100000});
  const std::string long_name(32, 'x');
  for (int i = 0; i < 300; ++i)
    hub.handle(2, req::Request{{}, req::Join{long_name.substr(0, 28) + std::to_string(1000 + i)}},
               kNow);
  small.clear();
  req::Rooms rooms;
  rooms.limit = 1000;
  hub.handle(1, req::Request{"a-long-request-id"s, rooms}, kNow);
  ASSERT_EQ(small.delivered.size(), 1u);
  EXPECT_LE(small.delivered[0].size(), 2000u);
  const auto reply = small.only<evt::Rooms>();
  EXPECT_GT(reply.rooms.size(), 10u);
  EXPECT_LT(reply.rooms.size(), 300u);
  EXPECT_EQ(reply.next, reply.rooms.back().name);

  // who, likewise: 300 members, a frame for a few dozen.
  std::vector<std::unique_ptr<FakeMember>> members;
  for (SessionId id = 10; id < 310; ++id) {
    members.push_back(std::make_unique<FakeMember>());
    hub.attach(id, *members.back(), "");
    hub.handle(id, req::Request{{}, req::Join{"big"}}, kNow);
  }
  small.clear();
  hub.handle(1, req::Request{{}, req::Who{"big"}}, kNow);
  ASSERT_EQ(small.delivered.size(), 1u);
  EXPECT_LE(small.delivered[0].size(), 2000u);
  const auto who = small.only<evt::Who>();
  ASSERT_TRUE(who.next.has_value());
  EXPECT_EQ(*who.next, who.nicks.back());
  // The rest follows from `next`, and nobody is listed twice.
  std::set<std::string> all(who.nicks.begin(), who.nicks.end());
  std::optional<std::string> after = who.next;
  for (int page = 0; page < 100 && after; ++page) {
    small.clear();
    req::Who more{"big"};
    more.after = after;
    hub.handle(1, req::Request{{}, more}, kNow);
    const auto next_page = small.only<evt::Who>();
    for (const auto& nick : next_page.nicks)
      EXPECT_TRUE(all.insert(nick).second) << nick << " listed twice";
    after = next_page.next;
  }
  EXPECT_EQ(all.size(), 300u);
}

TEST(HubLimits, RoomsArePerSessionAndInAllBounded) {
  std::uint16_t next_suffix = 0;
  Hub hub([&] { return ++next_suffix; });
  FakeMember a, b;
  hub.attach(1, a, "");
  hub.attach(2, b, "");
  hub.set_limits({3, 2});
  hub.handle(1, req::Request{{}, req::Join{"one"}}, kNow);
  hub.handle(1, req::Request{{}, req::Join{"two"}}, kNow);
  a.clear();
  hub.handle(1, req::Request{std::int64_t{1}, req::Join{"three"}}, kNow);
  EXPECT_EQ(a.only<evt::Error>().code, ErrorCode::unavailable) << "two rooms per session";
  hub.handle(2, req::Request{{}, req::Join{"three"}}, kNow);
  b.clear();
  hub.handle(2, req::Request{std::int64_t{2}, req::Join{"four"}}, kNow);
  EXPECT_EQ(b.only<evt::Error>().code, ErrorCode::unavailable) << "three rooms in all";
  b.clear();
  hub.handle(2, req::Request{std::int64_t{3}, req::Join{"one"}}, kNow);
  EXPECT_EQ(b.only<evt::Ack>().seq, 0u) << "an existing room is still open to join";
  a.clear();
  hub.handle(1, req::Request{std::int64_t{4}, req::Join{"one"}}, kNow);
  EXPECT_TRUE(a.only<evt::Ack>().seq.has_value()) << "joining a room one is in: an ack";
  EXPECT_EQ(hub.stats().rooms, 3u);
}

TEST(HubLimits, ARelayedMessageMustFitEveryRecipientsFrame) {
  std::uint16_t next_suffix = 0;
  Hub hub([&] { return ++next_suffix; });
  FakeMember sender, small, big;
  small.event_limit = 20000;
  hub.attach(1, sender, "");
  hub.attach(2, small, "");
  hub.attach(3, big, "");
  for (SessionId id : {1, 2, 3})
    hub.handle(id, req::Request{{}, req::Join{"room"}}, kNow);
  sender.clear();
  small.clear();
  big.clear();
  // 4,000 control characters: 24,000 bytes once escaped, over `small`'s 20,000.
  const std::string text(4000, '\x01');
  hub.handle(1, req::Request{std::int64_t{1}, req::Say{"room", text}}, kNow);
  EXPECT_EQ(sender.only<evt::Error>().code, ErrorCode::too_long);
  EXPECT_TRUE(small.delivered.empty());
  EXPECT_TRUE(big.delivered.empty()) << "all or nobody";
  hub.handle(1, req::Request{std::int64_t{2}, req::Msg{*hub.nick_of(2), text}}, kNow);
  EXPECT_EQ(sender.all<evt::Error>().back().code, ErrorCode::too_long);
  EXPECT_TRUE(small.delivered.empty());
  // A message that fits goes to both, and takes the next seq (the refused one took none).
  hub.handle(1, req::Request{std::int64_t{3}, req::Say{"room", std::string(3000, '\x01')}}, kNow);
  EXPECT_EQ(small.only<evt::Message>().seq, 1u);
  EXPECT_EQ(big.only<evt::Message>().seq, 1u);
}

}  // namespace
}  // namespace parley::server

namespace parley::server {
namespace {

// PROTOCOL.md 6.3 and 6.4: actions relayed and kept; history replayed to members only, with the
// original seq, from, ts and action, and ended by history_end.
class HubHistory : public HubTest {
 protected:
  std::vector<evt::Message> replayed(const FakeMember& m) const { return m.all<evt::Message>(); }
  evt::HistoryEnd end_of(const FakeMember& m) const {
    const auto ends = m.all<evt::HistoryEnd>();
    EXPECT_EQ(ends.size(), 1u);
    return ends.empty() ? evt::HistoryEnd{} : ends.back();
  }
  static std::vector<std::uint64_t> seqs(const std::vector<evt::Message>& messages) {
    std::vector<std::uint64_t> out;
    for (const auto& m : messages)
      out.push_back(m.seq);
    return out;
  }
};

TEST_F(HubHistory, ActionIsRelayedOnMessageAndDirect) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(2, req::Join{"lobby"});
  clear_all();
  send(1, req::Say{"lobby", "waves", true});
  send(1, req::Msg{"carol", "nods", true});
  send(1, req::Say{"lobby", "plain"});
  const auto messages = b_.all<evt::Message>();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_TRUE(messages[0].action);
  EXPECT_FALSE(messages[1].action);
  EXPECT_EQ(b_.delivered[0].find("\"replay\""), std::string::npos) << "live is not replay";
  EXPECT_TRUE(c_.only<evt::Direct>().action);
}

TEST_F(HubHistory, AMemberGetsEarlierMessagesWithTheirOriginalFields) {
  attach_three();
  send(1, req::Join{"Lobby"});
  send(1, req::Say{"lobby", "one"});
  send(1, req::Say{"lobby", "two", true});
  send(1, req::Msg{"bob", "private"});  // never stored
  send(2, req::Join{"lobby"});
  clear_all();
  send(2, req::History{"lobby"}, RequestId{std::int64_t{9}});
  EXPECT_EQ(replayed(b_), (std::vector<evt::Message>{
                              {"Lobby", "alice", "one", std::string(kNowText), 1, false, true},
                              {"Lobby", "alice", "two", std::string(kNowText), 2, true, true}}));
  EXPECT_EQ(end_of(b_), (evt::HistoryEnd{"Lobby", false, true, RequestId{std::int64_t{9}}}));
  EXPECT_TRUE(b_.all<evt::Direct>().empty());
  EXPECT_TRUE(a_.delivered.empty()) << "a history request concerns its requester only";
  EXPECT_EQ(hub_.stats().history_messages, 2u);
  EXPECT_GT(hub_.stats().history_bytes, 2 * RoomHistory::kMessageOverhead);
}

TEST_F(HubHistory, OnlyMembersMayAsk) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(1, req::Say{"lobby", "secret"});
  clear_all();
  send(3, req::History{"lobby"}, RequestId{std::int64_t{4}});
  const auto error = c_.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::not_member);
  EXPECT_EQ(error.id, RequestId{std::int64_t{4}});
  send(3, req::History{"nowhere"});
  EXPECT_EQ(c_.all<evt::Error>().back().code, ErrorCode::not_member);
  EXPECT_TRUE(c_.all<evt::Message>().empty());
}

TEST_F(HubHistory, LimitDefaultsTo50AndIsCappedAt100) {
  attach_three();
  send(1, req::Join{"lobby"});
  for (int i = 0; i < 150; ++i)
    send(1, req::Say{"lobby", "m" + std::to_string(i)});
  a_.clear();
  send(1, req::History{"lobby", 0});
  EXPECT_EQ(replayed(a_).size(), 50u);
  EXPECT_EQ(replayed(a_).front().seq, 51u) << "the store keeps 100: 51..150";
  EXPECT_TRUE(end_of(a_).more);
  EXPECT_FALSE(end_of(a_).complete);
  a_.clear();
  send(1, req::History{"lobby", 100, 1000});
  EXPECT_EQ(replayed(a_).size(), 50u);
  EXPECT_FALSE(end_of(a_).more);
  EXPECT_TRUE(end_of(a_).complete);
  hub_.set_history_limits({1000, std::chrono::seconds{3600}, std::size_t{64} << 20}, kNow);
  for (int i = 0; i < 150; ++i)
    send(1, req::Say{"lobby", "n"});
  a_.clear();
  send(1, req::History{"lobby", 150, 1000});
  EXPECT_EQ(replayed(a_).size(), 100u);
  EXPECT_EQ(replayed(a_).back().seq, 250u);
  EXPECT_TRUE(end_of(a_).more);
}

TEST_F(HubHistory, AReplyStopsAtTheReplyBudgetAndGoesOnFromTheLastSeq) {
  attach_three();
  send(1, req::Join{"lobby"});
  const std::string text(1000, 'x');
  for (int i = 0; i < 10; ++i)
    send(1, req::Say{"lobby", text});
  a_.reply_budget = 3500;  // three replayed messages of about 1100 bytes each
  a_.clear();
  send(1, req::History{"lobby", 0});
  EXPECT_EQ(seqs(replayed(a_)), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_TRUE(end_of(a_).more);
  EXPECT_TRUE(end_of(a_).complete);
  a_.clear();
  send(1, req::History{"lobby", 9});
  EXPECT_EQ(seqs(replayed(a_)), std::vector<std::uint64_t>{10});
  EXPECT_FALSE(end_of(a_).more);
  // At least one message per reply, whatever the budget.
  a_.reply_budget = 10;
  a_.clear();
  send(1, req::History{"lobby", 4});
  EXPECT_EQ(seqs(replayed(a_)), std::vector<std::uint64_t>{5});
  EXPECT_TRUE(end_of(a_).more);
}

TEST_F(HubHistory, AnEmptiedRoomKeepsItsHistoryAndItsSeq) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(1, req::Say{"lobby", "before"});
  send(1, req::Say{"lobby", "last"});
  send(1, req::Join{"busy"});
  send(2, req::Join{"busy"});
  for (int i = 0; i < 5; ++i)
    send(1, req::Say{"busy", "x"});  // seqs 3..7: the run's high-water passes lobby's
  send(1, req::Part{"lobby"});
  EXPECT_EQ(hub_.stats().rooms, 1u) << "an empty room is no room: not listed, not counted";
  clear_all();
  send(3, req::Join{"lobby"}, RequestId{std::int64_t{1}});
  EXPECT_EQ(c_.only<evt::Ack>().seq, 2u) << "the room goes on where it was";
  c_.clear();
  send(3, req::History{"lobby"});
  EXPECT_EQ(seqs(replayed(c_)), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(end_of(c_).complete);
  send(3, req::Join{"lobby"});
  send(2, req::Join{"lobby"});
  b_.clear();
  send(3, req::Say{"lobby", "again"});
  EXPECT_EQ(b_.only<evt::Message>().seq, 3u);
}

TEST_F(HubHistory, WithHistoryOffAnEmptiedRoomStartsAfterTheRun) {
  hub_.set_history_limits({0, std::chrono::seconds{3600}, std::size_t{64} << 20}, kNow);
  attach_three();
  send(1, req::Join{"lobby"});
  send(1, req::Say{"lobby", "gone"});
  send(1, req::Join{"busy"});
  for (int i = 0; i < 5; ++i)
    send(1, req::Say{"busy", "x"});
  send(1, req::Part{"lobby"});
  send(1, req::Join{"lobby"}, RequestId{std::int64_t{1}});
  EXPECT_EQ(a_.all<evt::Ack>().back().seq, 6u) << "after every seq of the run";
  a_.clear();
  send(1, req::History{"lobby"});
  EXPECT_TRUE(replayed(a_).empty());
  EXPECT_FALSE(end_of(a_).complete) << "seq 1 was said and not kept";
  EXPECT_EQ(hub_.stats().history_messages, 0u);
}

TEST_F(HubHistory, AMessageTooLongForTheRequesterIsLeftOutAndTheReplyIsNotComplete) {
  attach_three();
  send(1, req::Join{"lobby"});
  send(1, req::Say{"lobby", std::string(2000, 'y')});
  send(1, req::Say{"lobby", "short"});
  send(2, req::Join{"lobby"});
  b_.event_limit = 1000;  // as if it had a smaller max_frame than the room had
  b_.clear();
  send(2, req::History{"lobby", 0});
  EXPECT_EQ(seqs(replayed(b_)), std::vector<std::uint64_t>{2});
  EXPECT_FALSE(end_of(b_).complete);
}

}  // namespace
}  // namespace parley::server

namespace parley::server {
namespace {

// Cluster mode (docs/cluster.md): the hub hands says to a replicator and delivers only what is
// applied from the stream.
struct FakeReplicator : RoomReplicator {
  struct Proposed {
    std::string key;
    SessionId session;
    RequestId request;
    ClusterMessage message;
  };
  std::vector<Proposed> proposed;
  bool accepting = true;
  bool propose(const std::string& key, SessionId session, const RequestId& request,
               ClusterMessage message) override {
    if (!accepting) return false;
    proposed.push_back(Proposed{key, session, request, std::move(message)});
    return true;
  }
};

class ClusterHubTest : public HubTest {
 protected:
  ClusterHubTest() { hub_.set_replicator(&replicator_, "a"); }

  // What another node stored: applied like any stored message.
  static ClusterMessage from_elsewhere(std::uint64_t seq, std::string from, std::string text) {
    ClusterMessage message;
    message.seq = seq;
    message.from = std::move(from);
    message.text = std::move(text);
    message.at = kNow;
    message.node = "b";
    message.session = 1;  // the same number as a local session: another node's, all the same
    return message;
  }

  FakeReplicator replicator_;
};

TEST_F(ClusterHubTest, ASayIsProposedNotDeliveredAndAckedOnlyWhenStored) {
  attach_three();
  send(1, req::Join{"dev"}, RequestId{1});
  send(2, req::Join{"dev"}, RequestId{2});
  clear_all();
  send(1, req::Say{"dev", "hello"}, RequestId{7});
  EXPECT_TRUE(a_.delivered.empty()) << "no ack before the store has it";
  EXPECT_TRUE(b_.delivered.empty()) << "nothing delivered outside the stream's order";
  ASSERT_EQ(replicator_.proposed.size(), 1u);
  const auto& proposed = replicator_.proposed.front();
  EXPECT_EQ(proposed.key, "dev");
  EXPECT_EQ(proposed.session, 1u);
  EXPECT_EQ(proposed.message.from, "alice");
  EXPECT_EQ(proposed.message.text, "hello");
  EXPECT_EQ(proposed.message.node, "a");

  ClusterMessage stored = proposed.message;
  stored.seq = 501;
  hub_.apply_stored("dev", stored, kNow);
  EXPECT_TRUE(a_.delivered.empty()) << "the sender does not get its own message";
  const auto message = b_.only<evt::Message>();
  EXPECT_EQ(message.seq, 501u);
  EXPECT_EQ(message.from, "alice");
  EXPECT_EQ(message.ts, kNowText);
  hub_.confirm_say(1, RequestId{7}, 501);
  const auto ack = a_.only<evt::Ack>();
  EXPECT_EQ(ack.seq, 501u);
}

TEST_F(ClusterHubTest, StoredMessagesReachMembersOnceAndJoinsAckTheAppliedSeq) {
  attach_three();
  hub_.apply_stored("dev", from_elsewhere(40, "zed", "before anyone here joined"), kNow);
  send(1, req::Join{"dev"}, RequestId{1});
  EXPECT_EQ(a_.only<evt::Ack>().seq, 40u) << "everything after the applied seq, and only that";
  a_.clear();
  hub_.apply_stored("dev", from_elsewhere(41, "zed", "one"), kNow);
  hub_.apply_stored("dev", from_elsewhere(41, "zed", "one again"), kNow);  // a repeat
  hub_.apply_stored("dev", from_elsewhere(39, "zed", "older"), kNow);
  const auto got = a_.all<evt::Message>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.front().text, "one");
  EXPECT_EQ(got.front().seq, 41u);
  // The same session number on another node is another session: alice gets it.
  a_.clear();
  hub_.apply_stored("dev", from_elsewhere(42, "zed", "two"), kNow);
  EXPECT_EQ(a_.only<evt::Message>().seq, 42u);
  // The room empties here; messages go on being applied, and a later join starts after them.
  send(1, req::Part{"dev"}, RequestId{2});
  hub_.apply_stored("dev", from_elsewhere(43, "zed", "three"), kNow);
  a_.clear();
  send(2, req::Join{"dev"}, RequestId{3});
  EXPECT_EQ(b_.all<evt::Ack>().front().seq, 43u);
}

TEST_F(ClusterHubTest, ARefusalOrAFullQueueIsUnavailable) {
  attach_three();
  send(1, req::Join{"dev"}, RequestId{1});
  a_.clear();
  send(1, req::Say{"dev", "x"}, RequestId{2});
  hub_.refuse_say(1, RequestId{2}, "the cluster is unreachable");
  EXPECT_EQ(a_.only<evt::Error>().code, ErrorCode::unavailable);
  a_.clear();
  replicator_.accepting = false;
  send(1, req::Say{"dev", "y"}, RequestId{3});
  const auto error = a_.only<evt::Error>();
  EXPECT_EQ(error.code, ErrorCode::unavailable);
  EXPECT_EQ(error.id, RequestId{3});
  // A session gone before its confirmation is simply not answered.
  hub_.detach(1, "gone");
  hub_.confirm_say(1, RequestId{2}, 9);
  hub_.refuse_say(1, RequestId{2}, "x");
}

TEST_F(ClusterHubTest, StoredMessagesAreKeptInHistory) {
  attach_three();
  hub_.apply_stored("dev", from_elsewhere(7, "zed", "kept"), kNow);
  send(1, req::Join{"dev"}, RequestId{1});
  a_.clear();
  send(1, req::History{"dev", std::nullopt, std::nullopt}, RequestId{2});
  const auto replay = a_.all<evt::Message>();
  ASSERT_EQ(replay.size(), 1u);
  EXPECT_EQ(replay.front().text, "kept");
  EXPECT_TRUE(replay.front().replay);
}

}  // namespace
}  // namespace parley::server
