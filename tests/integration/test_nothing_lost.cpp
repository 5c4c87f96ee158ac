// Nothing lost (the hardening issue, item 15): clients chat in several rooms while others join,
// part and vanish. Every member whose join was acked at room seq J and whose part was acked at
// seq P (PROTOCOL.md 6.1) receives exactly the messages accepted in that room with J < seq <= P,
// from others, each once, in seq order; a member that vanished got a gap-free prefix of them.
#include <map>
#include <random>
#include <set>

#include "harness.hpp"
#include "parley/concat.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

constexpr int kRooms = 5;
constexpr int kChatters = 45;  // plus one keeper per room, who never leaves
constexpr int kMessages = 20000;

std::string room_name(int r) {
  return "room" + std::to_string(r);
}

struct Membership {
  int room;
  std::uint64_t joined_at = 0;             // the join ack's seq
  std::optional<std::uint64_t> parted_at;  // the part ack's seq
  bool vanished = false;                   // the connection was dropped while a member
  std::vector<std::uint64_t> received;     // seqs, in arrival order
};

// One session (a reconnect is a new one): its connection, and what it saw in each room.
struct Peer {
  std::unique_ptr<TestClient> client;
  int serial = 0;  // which session: nicks may repeat after a reconnect
  std::string nick;
  std::vector<Membership> memberships;
  std::map<int, std::size_t> current;  // room -> index into memberships, while a member
  std::map<std::int64_t, std::pair<char, int>> pending;  // request id -> (kind, room)
};

struct Accepted {
  int from;  // the sender's serial
  std::uint64_t seq;
};

class NothingLost {
 public:
  explicit NothingLost(std::uint16_t port, std::uint32_t seed) : port_(port), rng_(seed) {}

  void connect(Peer& peer) {
    peer.client = std::make_unique<TestClient>();
    peer.serial = ++sessions_;
    // Keepers only listen: like any real client they answer the server's idle pings, or a run
    // longer than idle_interval_s + idle_timeout_s (ASan) would lose them.
    peer.client->set_auto_pong(true);
    ASSERT_TRUE(peer.client->open(port_));
    peer.nick = peer.client->nick();
  }

  void request(Peer& peer, char kind, int room, req::Body body) {
    const std::int64_t id = ++next_id_;
    peer.pending[id] = {kind, room};
    ASSERT_TRUE(peer.client->send(request_with(std::move(body), id)));
  }

  static req::Request request_with(req::Body body, std::int64_t id) {
    return req::Request{RequestId{id}, std::move(body)};
  }

  // Reads whatever each connected peer has, until a pass finds nothing new.
  void drain(std::vector<Peer>& peers, milliseconds quiet = 5ms) {
    for (int pass = 0; pass < 10000; ++pass) {
      bool any = false;
      for (auto& peer : peers) {
        if (!peer.client) continue;
        while (auto event = peer.client->next_event(quiet)) {
          any = true;
          handle(peer, *event);
        }
      }
      if (!any) return;
    }
    ADD_FAILURE() << "the server never went quiet";
  }

  void handle(Peer& peer, const evt::Event& event) {
    if (const auto* m = std::get_if<evt::Message>(&event)) {
      const int room = std::stoi(m->room.substr(4));
      const auto it = peer.current.find(room);
      if (it == peer.current.end()) {
        ADD_FAILURE() << peer.nick << " got seq " << m->seq << " of " << m->room
                      << " while not a member";
        return;
      }
      peer.memberships[it->second].received.push_back(m->seq);
      return;
    }
    if (const auto* ack = std::get_if<evt::Ack>(&event)) {
      const auto id = std::get<std::int64_t>(ack->id);
      const auto [kind, room] = peer.pending.at(id);
      peer.pending.erase(id);
      if (!ack->seq) {
        ADD_FAILURE() << "an ack without seq";
        return;
      }
      if (kind == 'j') {
        peer.current[room] = peer.memberships.size();
        peer.memberships.push_back(Membership{room, *ack->seq, std::nullopt, false, {}});
      } else if (kind == 'p') {
        peer.memberships[peer.current.at(room)].parted_at = *ack->seq;
        peer.current.erase(room);
      } else {
        accepted_[room].push_back(Accepted{peer.serial, *ack->seq});
      }
      return;
    }
    if (const auto* error = std::get_if<evt::Error>(&event)) {
      ADD_FAILURE() << peer.nick << ": error " << evt::serialize(*error);
    }
    // joined, parted, quit: others' comings and goings, not checked here.
  }

  // True when `keeper`, a member of `room` since before its first message, has received the
  // room's last accepted seq.
  bool keeper_has_everything(const Peer& keeper, int room) const {
    const auto found = accepted_.find(room);
    if (found == accepted_.end() || found->second.empty()) return true;
    std::uint64_t last = 0;
    for (const auto& a : found->second)
      last = std::max(last, a.seq);
    const auto membership = keeper.current.find(room);
    if (membership == keeper.current.end()) return true;  // not a keeper after all: checked later
    const auto& received = keeper.memberships[membership->second].received;
    return !received.empty() && received.back() >= last;
  }

  // What a keeper lacks, for a failure message.
  std::string keeper_status(const Peer& keeper, int room) const {
    std::uint64_t last = 0;
    if (const auto found = accepted_.find(room); found != accepted_.end())
      for (const auto& a : found->second)
        last = std::max(last, a.seq);
    const auto membership = keeper.current.find(room);
    if (membership == keeper.current.end()) return keeper.nick + " is not in " + room_name(room);
    const auto& received = keeper.memberships[membership->second].received;
    return concat(keeper.nick, " in ", room_name(room), " has ", std::to_string(received.size()),
                  " messages up to seq ",
                  received.empty() ? std::string("none") : std::to_string(received.back()),
                  "; the last accepted is ", std::to_string(last),
                  keeper.client->close_record()
                      ? " (closed: " + keeper.client->close_record()->reason + ")"
                  : keeper.client->eof() ? std::string(" (the connection ended)")
                                         : std::string());
  }

  // Drops the connection once every request it sent is answered (a say the server accepted but
  // whose ack was never read would be a message nobody can account for).
  void vanish(Peer& peer) {
    const auto deadline = Clock::now() + kDefaultTimeout;
    while (!peer.pending.empty() && Clock::now() < deadline)
      if (auto event = peer.client->next_event(10ms)) handle(peer, *event);
    ASSERT_TRUE(peer.pending.empty()) << peer.nick << ": requests unanswered";
    for (const auto& [room, index] : peer.current)
      peer.memberships[index].vanished = true;
    peer.current.clear();
    peer.pending.clear();
    peer.client->reset_connection();
    peer.client.reset();
  }

  // Checks every membership of every session that ever lived against what was accepted.
  void check(const std::vector<Peer>& all) const {
    std::size_t checked = 0;
    for (const auto& peer : all) {
      for (const auto& m : peer.memberships) {
        static const std::vector<Accepted> kNone;
        const auto found = accepted_.find(m.room);
        const auto& room = found == accepted_.end() ? kNone : found->second;
        std::uint64_t last = 0;  // acks were read peer by peer: the largest, not the last read
        for (const auto& a : room)
          last = std::max(last, a.seq);
        const std::uint64_t end = m.parted_at ? *m.parted_at : last;
        std::vector<std::uint64_t> expected;
        for (const auto& a : room)
          if (a.seq > m.joined_at && a.seq <= end && a.from != peer.serial)
            expected.push_back(a.seq);
        std::sort(expected.begin(), expected.end());  // acks were read peer by peer
        if (m.vanished) {
          // Whatever was in flight when the connection died is lost with it, never more.
          ASSERT_LE(m.received.size(), expected.size()) << peer.nick;
          expected.resize(m.received.size());
        }
        if (m.received != expected) {
          std::vector<std::uint64_t> missing, extra;
          std::set_difference(expected.begin(), expected.end(), m.received.begin(),
                              m.received.end(), std::back_inserter(missing));
          std::vector<std::uint64_t> sorted = m.received;
          std::sort(sorted.begin(), sorted.end());
          std::set_difference(sorted.begin(), sorted.end(), expected.begin(), expected.end(),
                              std::back_inserter(extra));
          ADD_FAILURE() << "missing " << ::testing::PrintToString(missing) << ", extra "
                        << ::testing::PrintToString(extra) << ", received " << m.received.size()
                        << " expected " << expected.size();
        }
        ASSERT_EQ(m.received, expected)
            << peer.nick << " in " << room_name(m.room) << " from seq " << m.joined_at << " to "
            << end << (m.vanished ? " (vanished)" : "");
        ++checked;
      }
    }
    EXPECT_GT(checked, static_cast<std::size_t>(kChatters)) << "joins and parts happened";
  }

  std::map<int, std::vector<Accepted>>& accepted() { return accepted_; }
  std::mt19937& rng() { return rng_; }

 private:
  std::uint16_t port_;
  std::mt19937 rng_;
  std::int64_t next_id_ = 0;
  int sessions_ = 0;
  std::map<int, std::vector<Accepted>> accepted_;  // room -> messages, in ack order
};

TEST(NothingLost, EveryMemberGetsExactlyWhatWasSaidWhileItWasThere) {
  const std::uint32_t seed = 20261130;
  std::cout << "NothingLost: seed " << seed << std::endl;
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["rate"] = 100000;
  cfg["limits"]["burst"] = 100000;
  cfg["log"]["level"] = "info";
  ASSERT_TRUE(server.start(cfg));
  NothingLost run(server.port(), seed);

  // Keepers hold every room open from before its first message to the end, so each room has
  // members who must have received all of it; they check like everyone else.
  std::vector<Peer> peers(kRooms + kChatters);
  for (auto& peer : peers)
    ASSERT_NO_FATAL_FAILURE(run.connect(peer));
  for (int r = 0; r < kRooms; ++r)
    run.request(peers[r], 'j', r, req::Join{room_name(r)});
  run.drain(peers);

  std::vector<Peer> gone;  // sessions that vanished, kept for the check
  std::uniform_int_distribution<int> pick_chatter(kRooms, kRooms + kChatters - 1);
  std::uniform_int_distribution<int> pick_room(0, kRooms - 1);
  std::uniform_int_distribution<int> pick_action(0, 99);
  int said = 0;
  for (int step = 0; said < kMessages; ++step) {
    ASSERT_LT(step, kMessages * 3) << "bounded";
    Peer& peer = peers[pick_chatter(run.rng())];
    const int room = pick_room(run.rng());
    const int action = pick_action(run.rng());
    const bool member = peer.current.contains(room);
    const bool busy = std::any_of(peer.pending.begin(), peer.pending.end(), [&](const auto& p) {
      return p.second.second == room && p.second.first != 's';
    });
    if (action < 1) {
      gone.push_back(std::move(peer));
      ASSERT_NO_FATAL_FAILURE(run.vanish(gone.back()));
      ASSERT_NO_FATAL_FAILURE(run.connect(peer));
    } else if (busy) {
      // One join or part per room at a time: what a member is, is then always clear.
    } else if (!member) {
      if (action < 40) run.request(peer, 'j', room, req::Join{room_name(room)});
    } else if (action < 6) {
      run.request(peer, 'p', room, req::Part{room_name(room)});
    } else {
      run.request(peer, 's', room, req::Say{room_name(room), concat("m", std::to_string(said))});
      ++said;
    }
    if (step % 20 == 0) run.drain(peers, 0ms);
  }
  // Every message accepted has been sent by now; what is still on its way is awaited, not
  // guessed at: until each keeper (in its room from the start, never speaking) has the room's
  // last accepted seq, bounded in time. A slow machine (ASan, a busy CI host) only takes longer.
  std::cout << "NothingLost: all " << said << " said, awaiting the keepers" << std::endl;
  const auto until = Clock::now() + milliseconds(20000 * kSlowdown);
  bool all_there = false;
  while (!all_there && Clock::now() < until) {
    run.drain(peers, 5ms);
    all_there = true;
    for (int r = 0; r < kRooms && all_there; ++r)
      all_there = run.keeper_has_everything(peers[r], r);
  }
  for (int r = 0; r < kRooms; ++r)
    EXPECT_TRUE(run.keeper_has_everything(peers[r], r)) << run.keeper_status(peers[r], r);
  run.drain(peers, 50ms);
  for (const auto& peer : peers)
    EXPECT_TRUE(peer.pending.empty()) << peer.nick << " has unanswered requests";

  std::size_t accepted = 0;
  for (const auto& [room, messages] : run.accepted())
    accepted += messages.size();
  EXPECT_EQ(accepted, static_cast<std::size_t>(kMessages));
  for (auto& peer : peers)
    gone.push_back(std::move(peer));
  run.check(gone);
  EXPECT_TRUE(server.events("slow_consumer").empty());
}

}  // namespace
}  // namespace parley::it
