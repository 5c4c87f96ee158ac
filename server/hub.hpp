// The hub: nicks, rooms and relay (PROTOCOL.md 4) as pure code. The server owns one Hub and
// every session calls into it from its own coroutine on the same executor; the hub never
// blocks, never owns a socket and never reads a clock, so every rule here is unit-testable.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster_wire.hpp"
#include "parley/request.hpp"
#include "parley/status.hpp"
#include "remote_sessions.hpp"
#include "room_history.hpp"

namespace parley::server {

using SessionId = std::uint64_t;

// The hub's only way to reach a session. deliver() gets one serialized JSON event; the
// session's outbox seals it with that recipient's keys. The same string_view is handed to
// every recipient of a fan-out: a message is serialized once, never per recipient.
// deliver() must only queue: it must not call back into the hub (the hub is mid-update while
// it fans out) and the view is valid only for the duration of the call.
class Member {
 public:
  virtual ~Member() = default;
  virtual void deliver(std::string_view json) = 0;
  // The longest event this member can be sent: what fits a record within the max_frame its
  // welcome announced (PROTOCOL.md 6.5). The hub never delivers a longer one.
  virtual std::size_t max_event_bytes() const = 0;
  // How many bytes of events one reply may queue at once: a history reply (6.4) stops there
  // (with `more`), so that it fits the session's output budget whole.
  virtual std::size_t reply_budget_bytes() const = 0;
  // The hub ends this session (takeover, 6.9): it sends a close record with `code` and goes.
  // The hub has detached it already; like deliver(), this must only queue.
  virtual void end_session(StatusCode code, std::string_view reason) = 0;
};

struct HubLimits {
  std::size_t max_rooms = 10000;
  std::size_t max_rooms_per_session = 100;
};

// Listings (who, rooms) come in pages of at most this many entries (6.5), fewer when the page
// would not fit the requester's max_event_bytes.
inline constexpr std::size_t kPageDefault = 100;
inline constexpr std::size_t kPageMax = 1000;
// A history reply's message count (6.4): the protocol's default and cap.
inline constexpr std::size_t kHistoryDefault = 50;
inline constexpr std::size_t kHistoryMax = 100;

// Requests whose reply is a page (a listing up to a whole max_frame, or a history reply up to the
// member's reply budget): the session builds one only once its previous page has been written
// (PROTOCOL.md 6.5), so a burst of them cannot outrun the reader.
bool replies_with_a_page(const req::Request& request);

// Told of membership changes, for the event log; never of message text.
class HubObserver {
 public:
  virtual ~HubObserver() = default;
  virtual void on_nick(SessionId id, std::string_view old_nick, std::string_view new_nick) = 0;
  virtual void on_join(SessionId id, std::string_view nick, std::string_view room) = 0;
  virtual void on_part(SessionId id, std::string_view nick, std::string_view room) = 0;
};

// In a cluster (docs/cluster.md) room messages are ordered by JetStream, not by the hub: a say
// is handed to the replicator, which stores it and later confirms it (Hub::confirm_say) or
// refuses it (Hub::refuse_say); every node then applies the stored messages in the stream's
// order (Hub::apply_stored). Null (the default): the single-node hub orders and delivers itself.
class RoomReplicator {
 public:
  virtual ~RoomReplicator() = default;
  // Queues `message` (everything but its seq) for the room `key` (folded); false when it cannot
  // be taken now (the cluster is unreachable, or the room's queue is full).
  virtual bool propose(const std::string& key, SessionId session, const RequestId& request,
                       ClusterMessage message) = 0;
};

// In a cluster, nicks and memberships span the nodes too (docs/cluster.md): the directory writes
// this node's sessions to the cluster, claims nicks there, carries direct messages to sessions on
// other nodes, and keeps the view of the remote sessions (RemoteSessions) the hub answers from.
// Null (the default): the single-node hub knows every session itself.
class Directory {
 public:
  virtual ~Directory() = default;
  // False while the node is cut off from the cluster: requests that need it are `unavailable`.
  virtual bool available() const = 0;
  virtual const RemoteSessions& remote() const = 0;
  // The session attached, joined or parted: its entry is written (Hub::entry_of), its nick
  // claimed in the cluster first if it is new (a lost claim comes back as Hub::claim_lost).
  virtual void changed(SessionId id) = 0;
  // The session ended holding `nick`: its entry becomes a tombstone saying `reason`.
  virtual void ended(SessionId id, std::string_view nick, std::string_view reason) = 0;
  // A nick change: claims `nick` in the cluster and answers with Hub::nick_claimed.
  virtual void claim(SessionId id, const RequestId& request, std::string nick) = 0;
  // A `direct` event for a session on another node (at most once, like any relay).
  virtual void send_direct(const RemoteSession& to, std::string_view event_json) = 0;
};

struct HubStats {
  std::size_t sessions = 0;
  std::size_t rooms = 0;
  // `message` and `direct` events delivered, one per recipient: this is the work the relay
  // actually did, which is what an operator sizing the server wants to see.
  std::uint64_t messages_relayed = 0;
  std::size_t history_messages = 0;  // stored for replay (6.4), in all rooms
  std::size_t history_bytes = 0;     // what they cost, as RoomHistory::cost counts
};

// What handle() tells the session to do afterwards.
enum class AfterRequest {
  keep_open,
  close_normally,  // quit: the session sends close(normal), ends, then calls detach()
};

class Hub {
 public:
  // guest_suffix supplies 16 random bits for "guest-xxxx" (4 lowercase hex digits); injected
  // so tests are deterministic.
  explicit Hub(std::function<std::uint16_t()> guest_suffix);

  // Replaces the nick reservations (at start and on SIGHUP reload). Map: fingerprint -> owned
  // nick. Sessions already holding a nick keep it: a reload restricts future claims only.
  void set_reserved_nicks(std::map<std::string, std::string> owned_by_fingerprint);
  // At start and on reload; a lower limit refuses new rooms and joins, and closes nothing.
  void set_limits(HubLimits limits) { limits_ = limits; }
  // At start and on reload; in force at once (a lower bound evicts now).
  void set_history_limits(HistoryLimits limits, std::chrono::system_clock::time_point now) {
    history_.set_limits(limits, now);
  }
  // The periodic sweep: history past its age goes, in rooms nobody reads or writes too.
  void expire_history(std::chrono::system_clock::time_point now);
  // Room seqs (PROTOCOL.md 6.2): this run issues seqs above `base`; a room created (or created
  // again after it emptied and its history went) starts after every seq issued so far, one
  // whose history is still kept goes on from its last seq: one room name's seqs only grow. Past
  // `limit`, `extend` is asked for a new limit (SeqLease::extend). Without a call: from 0,
  // unlimited (tests).
  void set_seq_lease(std::uint64_t base, std::uint64_t limit,
                     std::function<std::uint64_t()> extend);

  // Cluster mode: says go through `replicator` (which must outlive the hub or be reset to
  // null); `node` names this node in what it stores, so it knows its own senders.
  void set_replicator(RoomReplicator* replicator, std::string node) {
    replicator_ = replicator;
    node_ = std::move(node);
  }
  // The replicator stored a say at room seq `seq`: its sender (if still attached) gets the ack.
  void confirm_say(SessionId session, const RequestId& request, std::uint64_t seq);
  // The replicator could not store it: the sender gets `unavailable` with `why`.
  void refuse_say(SessionId session, const RequestId& request, std::string_view why);
  // A message stored in the room `key` (folded), applied in the stream's order by every node:
  // delivered to this node's members of the room (not to its sender), kept in history. A seq
  // at or below the room's last applied one is a repeat and is dropped.
  void apply_stored(const std::string& key, const ClusterMessage& message,
                    std::chrono::system_clock::time_point now);

  // Cluster mode: nicks, rooms and direct messages span the nodes through `directory` (which
  // must outlive the hub or be reset to null).
  void set_directory(Directory* directory) { directory_ = directory; }
  // What the directory writes for this session (node and process left empty).
  std::optional<DirectoryEntry> entry_of(SessionId id) const;
  // Changes to remote sessions, announced to this node's members as local ones would be.
  void apply_presence(const std::vector<PresenceChange>& changes);
  // The cluster's answer to Directory::claim: the session (if still attached) gets its ack and the
  // nick, or the error `refused` with `why`. False when the session did not take the nick (gone,
  // or refused): a nick the cluster gave it is then the directory's to free.
  bool nick_claimed(SessionId id, const RequestId& request, const std::string& nick,
                    std::optional<ErrorCode> refused, std::string_view why = {});
  // The session's nick turned out to be held on another node (two nodes gave it out at once):
  // the session gets a fresh guest nick, told by a `nick` event like its rooms.
  void claim_lost(SessionId id);
  // A direct event from another node for this session, if it still holds `to`.
  bool deliver_direct(SessionId id, std::string_view to, std::string_view event_json);

  // A session that finished its handshake; `member` must outlive the attachment.
  // fingerprint: the client's identity ("" if anonymous). Returns the assigned nick: the key's
  // owned nick if it has one and it is free, else a fresh unique guest nick. Attaching an id
  // that is already attached first detaches it (reason "replaced").
  std::string attach(SessionId id, Member& member, std::string_view fingerprint);

  // One parsed request; `now` stamps messages. Replies and errors go to the session's own
  // Member. Requests from an id that is not attached are ignored (keep_open).
  AfterRequest handle(SessionId id, const req::Request& request,
                      std::chrono::system_clock::time_point now);

  // Sends the error event for a request the parser refused (with its id) to that session.
  void reject(SessionId id, const req::Rejection& rejection);

  // The session ended (quit, close, timeout, error): every other member of each of its rooms
  // gets exactly one `quit` {nick, reason}; rooms left empty are deleted (their history stays in
  // the store, and a room created again under that name goes on from its last stored seq).
  // Idempotent.
  void detach(SessionId id, std::string_view reason);

  std::optional<std::string> nick_of(SessionId id) const;
  // The session holding this nick (compared case-insensitively), for the operator's kick.
  std::optional<SessionId> holder_of(std::string_view nick) const;
  // The display names of the rooms this session is in, in join order.
  std::vector<std::string> rooms_of(SessionId id) const;
  // Operator words (PROTOCOL.md 6.6): `json` to every session, or to the members of `room`.
  // Returns how many it reached; nullopt when there is no such room.
  std::optional<std::size_t> broadcast(std::string_view json,
                                       const std::optional<std::string>& room) const;
  // Optional; must outlive the hub or be reset to null.
  void set_observer(HubObserver* observer) { observer_ = observer; }
  HubStats stats() const;

 private:
  struct Session {
    Member* member = nullptr;
    std::string nick;                // display form
    std::string fingerprint;         // "" if anonymous
    std::vector<std::string> rooms;  // folded room keys
    bool claiming = false;           // a nick change waits for the cluster
  };
  struct Room {
    std::string name;                // display form, as first created
    std::vector<SessionId> members;  // join order
    std::uint64_t last_seq = 0;
  };

  void on_nick(SessionId id, Session& session, const RequestId& rid, const req::Nick& request);
  void on_join(SessionId id, Session& session, const RequestId& rid, const std::string& room);
  void on_part(SessionId id, Session& session, const RequestId& rid, const std::string& room);
  void on_say(SessionId id, Session& session, const RequestId& rid, const req::Say& say,
              std::chrono::system_clock::time_point now);
  // The room's last seq as far as this node knows it, for a room it has no members in.
  std::uint64_t known_last_seq(const std::string& key) const;
  void on_msg(Session& session, const RequestId& rid, const req::Msg& msg,
              std::chrono::system_clock::time_point now);
  void on_who(Session& session, const RequestId& rid, const req::Who& who) const;
  void on_rooms(Session& session, const RequestId& rid, const req::Rooms& rooms) const;
  void on_history(SessionId id, Session& session, const RequestId& rid, const req::History& request,
                  std::chrono::system_clock::time_point now);

  void erase_room(std::unordered_map<std::string, Room>::iterator room);
  // The smallest max_event_bytes among `room`'s members other than `except`.
  std::size_t smallest_event_limit(const Room& room, SessionId except) const;
  static void ack(Session& session, const RequestId& rid,
                  std::optional<std::uint64_t> seq = std::nullopt);
  static void fail(Session& session, ErrorCode code, std::string_view message,
                   const RequestId& rid);
  // Delivers `json` once to every member of `room` except `except`.
  void fan_out(const Room& room, SessionId except, std::string_view json) const;
  // Delivers `json` once to each id (duplicates removed first).
  void deliver_once(std::vector<SessionId> ids, std::string_view json) const;

  bool reserved_against(std::string_view folded_nick, std::string_view fingerprint) const;
  bool claimable(const std::string& folded_nick) const;
  const RemoteSession* remote_holder(const std::string& folded_nick) const;
  // Renames the session (already checked free) and tells the members sharing a room with it
  // (and, when `tell_self`, the session itself).
  void rename(SessionId id, Session& session, const std::string& nick, bool tell_self);
  void on_remote_msg(Session& session, const RequestId& rid, const RemoteSession& target,
                     const std::string& json);
  std::string fresh_guest_nick();

  std::function<std::uint16_t()> guest_suffix_;
  std::uint64_t guest_counter_ = 0;
  // folded nick -> fingerprints of the keys owning it (several keys may own one nick).
  std::unordered_map<std::string, std::vector<std::string>> owners_by_nick_;
  std::map<std::string, std::string> owned_by_fingerprint_;
  std::unordered_map<SessionId, Session> sessions_;
  std::unordered_map<std::string, SessionId> nicks_;  // folded nick -> holder
  std::unordered_map<std::string, Room> rooms_;       // folded room name -> room
  std::set<std::string, std::less<>> room_order_;     // the same keys, in listing order
  HubLimits limits_;
  RoomHistory history_;
  std::uint64_t seq_high_ = 0;  // the highest seq issued in this run (or the lease's base)
  std::uint64_t seq_limit_ = std::numeric_limits<std::uint64_t>::max();
  std::function<std::uint64_t()> extend_seq_lease_;
  std::uint64_t messages_relayed_ = 0;
  HubObserver* observer_ = nullptr;
  RoomReplicator* replicator_ = nullptr;
  Directory* directory_ = nullptr;
  std::unordered_map<std::string, SessionId> claiming_;  // folded nick -> session claiming it
  std::string node_;
  // Cluster mode: the last seq applied in each room this node has no room record for (rooms with
  // members keep theirs in Room::last_seq), so a join there is acked with the right seq.
  std::unordered_map<std::string, std::uint64_t> applied_seq_;
};

}  // namespace parley::server
