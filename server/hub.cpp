#include "hub.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <variant>

#include "parley/event.hpp"
#include "parley/names.hpp"

namespace parley::server {
namespace {

// Enough that a crowded server almost never falls back, few enough that a broken generator
// (always the same value) costs nothing noticeable.
constexpr int kGuestTries = 32;

bool has_id(const RequestId& id) {
  return !std::holds_alternative<std::monostate>(id);
}

constexpr std::string_view kGuestPrefix = "guest-";

// Every session can take an event this long (the smallest max_frame less a record's overhead),
// so a shorter one needs no look at the recipients.
constexpr std::size_t kSmallestEventLimit = 16384 - 64;

std::string guest_name(std::uint16_t bits) {
  static constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string name(kGuestPrefix);
  for (int shift = 12; shift >= 0; shift -= 4)
    name += kHex[(bits >> shift) & 0xF];
  return name;
}

bool contains(const std::vector<SessionId>& ids, SessionId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

template <typename T>
void erase_value(std::vector<T>& values, const T& value) {
  values.erase(std::remove(values.begin(), values.end(), value), values.end());
}

}  // namespace

bool replies_with_a_page(const req::Request& request) {
  return std::holds_alternative<req::Who>(request.body) ||
         std::holds_alternative<req::Rooms>(request.body) ||
         std::holds_alternative<req::History>(request.body);
}

Hub::Hub(std::function<std::uint16_t()> guest_suffix) : guest_suffix_(std::move(guest_suffix)) {}

void Hub::set_seq_lease(std::uint64_t base, std::uint64_t limit,
                        std::function<std::uint64_t()> extend) {
  seq_high_ = std::max(seq_high_, base);
  history_.set_run_base(base);
  seq_limit_ = limit;
  extend_seq_lease_ = std::move(extend);
}

void Hub::set_reserved_nicks(std::map<std::string, std::string> owned_by_fingerprint) {
  owned_by_fingerprint_ = std::move(owned_by_fingerprint);
  owners_by_nick_.clear();
  for (const auto& [fingerprint, nick] : owned_by_fingerprint_) {
    owners_by_nick_[fold_name(nick)].push_back(fingerprint);
  }
}

bool Hub::reserved_against(std::string_view folded_nick, std::string_view fingerprint) const {
  const auto it = owners_by_nick_.find(std::string(folded_nick));
  if (it == owners_by_nick_.end()) return false;
  // An anonymous session never matches: "" is not a key, even if a config line were empty.
  if (fingerprint.empty()) return true;
  return std::find(it->second.begin(), it->second.end(), fingerprint) == it->second.end();
}

bool Hub::claimable(const std::string& folded_nick) const {
  return !nicks_.contains(folded_nick) && !owners_by_nick_.contains(folded_nick) &&
         !claiming_.contains(folded_nick) && !remote_holder(folded_nick);
}

const RemoteSession* Hub::remote_holder(const std::string& folded_nick) const {
  return directory_ ? directory_->remote().holder(folded_nick) : nullptr;
}

std::string Hub::fresh_guest_nick() {
  for (int i = 0; i < kGuestTries; ++i) {
    std::string name = guest_name(guest_suffix_());
    if (claimable(fold_name(name))) return name;
  }
  // Terminates: at most sessions + reservations names are unavailable, and the counter only
  // grows, so some counter value is free within that many steps.
  for (;;) {
    std::string name = std::string(kGuestPrefix) + "n" + std::to_string(++guest_counter_);
    if (claimable(fold_name(name))) return name;
  }
}

std::string Hub::attach(SessionId id, Member& member, std::string_view fingerprint) {
  if (sessions_.contains(id)) detach(id, "replaced");

  std::string nick;
  if (!fingerprint.empty()) {
    const auto owned = owned_by_fingerprint_.find(std::string(fingerprint));
    if (owned != owned_by_fingerprint_.end() && is_valid_name(owned->second) &&
        !nicks_.contains(fold_name(owned->second)) &&
        !claiming_.contains(fold_name(owned->second)) && !remote_holder(fold_name(owned->second))) {
      nick = owned->second;
    }
  }
  if (nick.empty()) nick = fresh_guest_nick();

  nicks_.emplace(fold_name(nick), id);
  sessions_.emplace(id, Session{&member, nick, std::string(fingerprint), {}, false});
  if (directory_) directory_->changed(id);
  return nick;
}

void Hub::detach(SessionId id, std::string_view reason) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session session = std::move(it->second);
  sessions_.erase(it);
  nicks_.erase(fold_name(session.nick));
  if (session.claiming)
    std::erase_if(claiming_, [id](const auto& claim) { return claim.second == id; });
  if (directory_) directory_->ended(id, session.nick, reason);

  // State is settled before anything is delivered, so recipients are all still attached.
  std::vector<SessionId> recipients;
  for (const std::string& key : session.rooms) {
    const auto room = rooms_.find(key);
    if (room == rooms_.end()) continue;
    erase_value(room->second.members, id);
    if (room->second.members.empty()) {
      erase_room(room);
    } else {
      recipients.insert(recipients.end(), room->second.members.begin(), room->second.members.end());
    }
  }
  if (recipients.empty()) return;
  const std::string json = evt::serialize(evt::Quit{session.nick, std::string(reason)});
  deliver_once(std::move(recipients), json);
}

std::optional<std::string> Hub::nick_of(SessionId id) const {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  return it->second.nick;
}

std::optional<SessionId> Hub::holder_of(std::string_view nick) const {
  const auto it = nicks_.find(fold_name(nick));
  if (it == nicks_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Hub::rooms_of(SessionId id) const {
  std::vector<std::string> names;
  if (const auto it = sessions_.find(id); it != sessions_.end())
    for (const auto& key : it->second.rooms)
      names.push_back(rooms_.at(key).name);
  return names;
}

std::optional<std::size_t> Hub::broadcast(std::string_view json,
                                          const std::optional<std::string>& room) const {
  std::size_t reached = 0;
  auto reach = [&](const Session& session) {
    if (json.size() > session.member->max_event_bytes()) return;
    session.member->deliver(json);
    ++reached;
  };
  if (!room) {
    for (const auto& [id, session] : sessions_)
      reach(session);
    return reached;
  }
  const auto it = rooms_.find(fold_name(*room));
  if (it == rooms_.end()) return std::nullopt;
  for (SessionId member : it->second.members)
    reach(sessions_.at(member));
  return reached;
}

HubStats Hub::stats() const {
  return HubStats{sessions_.size(), rooms_.size(), messages_relayed_, history_.messages(),
                  history_.bytes()};
}

void Hub::reject(SessionId id, const req::Rejection& rejection) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  fail(it->second, rejection.code, rejection.message, rejection.id);
}

AfterRequest Hub::handle(SessionId id, const req::Request& request,
                         std::chrono::system_clock::time_point now) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return AfterRequest::keep_open;
  Session& session = it->second;
  const RequestId& rid = request.id;

  if (const auto* nick = std::get_if<req::Nick>(&request.body)) {
    on_nick(id, session, rid, *nick);
  } else if (const auto* join = std::get_if<req::Join>(&request.body)) {
    on_join(id, session, rid, join->room);
  } else if (const auto* part = std::get_if<req::Part>(&request.body)) {
    on_part(id, session, rid, part->room);
  } else if (const auto* say = std::get_if<req::Say>(&request.body)) {
    on_say(id, session, rid, *say, now);
  } else if (const auto* msg = std::get_if<req::Msg>(&request.body)) {
    on_msg(session, rid, *msg, now);
  } else if (const auto* who = std::get_if<req::Who>(&request.body)) {
    on_who(session, rid, *who);
  } else if (const auto* rooms = std::get_if<req::Rooms>(&request.body)) {
    on_rooms(session, rid, *rooms);
  } else if (const auto* history = std::get_if<req::History>(&request.body)) {
    on_history(id, session, rid, *history, now);
  } else if (std::holds_alternative<req::Ping>(request.body)) {
    session.member->deliver(evt::serialize(evt::Pong{rid}));
  } else if (std::holds_alternative<req::Quit>(request.body)) {
    ack(session, rid);
    return AfterRequest::close_normally;
  }
  // req::Pong only proves liveness, which the session tracks itself.
  return AfterRequest::keep_open;
}

void Hub::on_nick(SessionId id, Session& session, const RequestId& rid, const req::Nick& request) {
  const std::string& nick = request.nick;
  if (!is_valid_name(nick)) return fail(session, ErrorCode::bad_name, "invalid nick", rid);
  const std::string folded = fold_name(nick);
  const std::string old_folded = fold_name(session.nick);
  // Already holding it (any case): a case change, which no reservation can forbid.
  if (folded != old_folded) {
    // The server names its guests: nobody may pass for one, or take a name it may hand out.
    if (folded.starts_with(kGuestPrefix))
      return fail(session, ErrorCode::nick_reserved, "guest- names are the server's", rid);
    if (const auto holder = nicks_.find(folded); holder != nicks_.end()) {
      // 6.9: only a session authenticated with the same key as the holder, and only when it
      // asks to: the holder is its own ghost (a connection that died unnoticed).
      Session& ghost = sessions_.at(holder->second);
      const bool same_key =
          !session.fingerprint.empty() && ghost.fingerprint == session.fingerprint;
      if (!request.takeover || !same_key)
        return fail(session, ErrorCode::nick_taken, "nick taken", rid);
      Member* ghost_member = ghost.member;
      detach(holder->second, "replaced");  // its rooms see it quit; the nick is free
      ghost_member->end_session(StatusCode::replaced, "replaced by a new session with your key");
    } else if (claiming_.contains(folded) || remote_holder(folded)) {
      // Held on another node (or being claimed here): a takeover reaches local ghosts only
      // (docs/cluster.md).
      return fail(session, ErrorCode::nick_taken, "nick taken", rid);
    }
    if (reserved_against(folded, session.fingerprint)) {
      return fail(session, ErrorCode::nick_reserved, "nick reserved", rid);
    }
    if (directory_) {
      // The cluster decides: the ack comes with nick_claimed.
      if (!directory_->available())
        return fail(session, ErrorCode::unavailable, "cut off from the cluster: try again later",
                    rid);
      if (session.claiming)
        return fail(session, ErrorCode::unavailable, "a nick change is in progress", rid);
      session.claiming = true;
      claiming_.emplace(folded, id);
      directory_->claim(id, rid, nick);
      return;
    }
  }
  ack(session, rid);
  rename(id, session, nick, /*tell_self=*/false);
}

void Hub::rename(SessionId id, Session& session, const std::string& nick, bool tell_self) {
  const std::string old_nick = std::exchange(session.nick, nick);
  nicks_.erase(fold_name(old_nick));
  nicks_.emplace(fold_name(nick), id);
  if (old_nick == nick) return;
  if (observer_) observer_->on_nick(id, old_nick, nick);
  if (directory_) directory_->changed(id);

  std::vector<SessionId> sharers;
  if (tell_self) sharers.push_back(id);
  for (const std::string& key : session.rooms) {
    const Room& room = rooms_.at(key);
    for (SessionId other : room.members) {
      if (other != id) sharers.push_back(other);
    }
  }
  if (sharers.empty()) return;
  deliver_once(std::move(sharers), evt::serialize(evt::NickChanged{old_nick, nick}));
}

bool Hub::nick_claimed(SessionId id, const RequestId& request, const std::string& nick,
                       std::optional<ErrorCode> refused, std::string_view why) {
  const std::string folded = fold_name(nick);
  if (const auto claim = claiming_.find(folded); claim != claiming_.end() && claim->second == id)
    claiming_.erase(claim);
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  Session& session = it->second;
  session.claiming = false;
  if (refused) {
    fail(session, *refused, why, request);
    return false;
  }
  // Nothing here could take it meanwhile: claimable() counts claims in flight.
  ack(session, request);
  rename(id, session, nick, /*tell_self=*/false);
  return true;
}

void Hub::claim_lost(SessionId id) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  rename(id, it->second, fresh_guest_nick(), /*tell_self=*/true);
}

bool Hub::deliver_direct(SessionId id, std::string_view to, std::string_view event_json) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end() || fold_name(it->second.nick) != fold_name(to)) return false;
  Member& member = *it->second.member;
  if (event_json.size() > member.max_event_bytes()) return false;
  member.deliver(event_json);
  ++messages_relayed_;
  return true;
}

std::optional<DirectoryEntry> Hub::entry_of(SessionId id) const {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  DirectoryEntry entry;
  entry.session = id;
  entry.nick = it->second.nick;
  entry.fingerprint = it->second.fingerprint;
  for (const auto& key : it->second.rooms)
    entry.rooms.push_back(rooms_.at(key).name);
  return entry;
}

void Hub::apply_presence(const std::vector<PresenceChange>& changes) {
  for (const PresenceChange& change : changes) {
    std::vector<SessionId> recipients;
    const Room* first = nullptr;
    for (const auto& key : change.rooms) {
      const auto room = rooms_.find(key);
      if (room == rooms_.end()) continue;
      if (!first) first = &room->second;
      recipients.insert(recipients.end(), room->second.members.begin(), room->second.members.end());
    }
    if (recipients.empty()) continue;
    std::string json;
    switch (change.kind) {
      case PresenceChange::Kind::joined:
        json = evt::serialize(evt::Joined{first->name, change.nick});
        break;
      case PresenceChange::Kind::parted:
        json = evt::serialize(evt::Parted{first->name, change.nick});
        break;
      case PresenceChange::Kind::nick:
        json = evt::serialize(evt::NickChanged{change.nick, change.new_nick});
        break;
      case PresenceChange::Kind::quit:
        json = evt::serialize(evt::Quit{change.nick, change.reason});
        break;
    }
    deliver_once(std::move(recipients), json);
  }
}

void Hub::on_join(SessionId id, Session& session, const RequestId& rid, const std::string& name) {
  if (!is_valid_name(name)) return fail(session, ErrorCode::bad_name, "invalid room name", rid);
  std::string key = fold_name(name);
  auto existing = rooms_.find(key);
  if (existing != rooms_.end() && contains(existing->second.members, id))
    return ack(session, rid, existing->second.last_seq);
  // A member's join is announced across the cluster: not while cut off from it.
  if (directory_ && !directory_->available())
    return fail(session, ErrorCode::unavailable, "cut off from the cluster: try again later", rid);
  // Rooms cost memory and listing time: bounded per session and in all. Nothing in the
  // protocol names these limits; `unavailable` (6.8) is the nearest: not now, perhaps later.
  if (session.rooms.size() >= limits_.max_rooms_per_session)
    return fail(session, ErrorCode::unavailable, "in too many rooms already: part one first", rid);
  if (existing == rooms_.end() && rooms_.size() >= limits_.max_rooms)
    return fail(session, ErrorCode::unavailable, "too many rooms on this server", rid);
  if (existing == rooms_.end()) {
    // A room that emptied and is created again goes on from its history while that is kept, else
    // after every seq of this run: either way its seqs only grow.
    const std::uint64_t last_seq = known_last_seq(key);
    applied_seq_.erase(key);  // the room record carries it from now on
    existing = rooms_.emplace(key, Room{name, {}, last_seq}).first;
    room_order_.insert(key);
  }
  Room& room = existing->second;

  room.members.push_back(id);
  session.rooms.push_back(std::move(key));
  // The last seq the member will not be sent: every message after it, it will.
  ack(session, rid, room.last_seq);
  if (observer_) observer_->on_join(id, session.nick, room.name);
  if (directory_) directory_->changed(id);
  fan_out(room, id, evt::serialize(evt::Joined{room.name, session.nick}));
}

void Hub::on_part(SessionId id, Session& session, const RequestId& rid, const std::string& name) {
  if (!is_valid_name(name)) return fail(session, ErrorCode::bad_name, "invalid room name", rid);
  const std::string key = fold_name(name);
  const auto it = rooms_.find(key);
  if (it == rooms_.end() || !contains(it->second.members, id)) {
    return fail(session, ErrorCode::not_member, "not a member of that room", rid);
  }
  Room& room = it->second;
  erase_value(room.members, id);
  erase_value(session.rooms, key);
  if (directory_) directory_->changed(id);
  // The last seq the member was sent (parleyd's addition to 6.1: a part's ack says where its
  // stream of the room ends).
  ack(session, rid, room.last_seq);
  if (observer_) observer_->on_part(id, session.nick, room.name);
  if (room.members.empty()) {
    erase_room(it);
    return;
  }
  fan_out(room, id, evt::serialize(evt::Parted{room.name, session.nick}));
}

void Hub::on_say(SessionId id, Session& session, const RequestId& rid, const req::Say& say,
                 std::chrono::system_clock::time_point now) {
  if (!is_valid_name(say.room)) {
    return fail(session, ErrorCode::bad_name, "invalid room name", rid);
  }
  const auto it = rooms_.find(fold_name(say.room));
  if (it == rooms_.end() || !contains(it->second.members, id)) {
    return fail(session, ErrorCode::not_member, "not a member of that room", rid);
  }
  Room& room = it->second;
  const std::string json = evt::serialize(evt::Message{
      room.name, session.nick, say.text, format_timestamp(now), room.last_seq + 1, say.action});
  // Escaping can make the event far longer than the text: it must still fit every recipient's
  // announced max_frame (6.5). Checked before the seq is taken.
  if (json.size() > kSmallestEventLimit && json.size() > smallest_event_limit(room, id))
    return fail(session, ErrorCode::too_long, "too long for a member of the room once encoded",
                rid);
  if (replicator_) {
    ClusterMessage message;
    message.from = session.nick;
    message.text = say.text;
    message.action = say.action;
    message.at = now;
    message.node = node_;
    message.session = id;
    if (!replicator_->propose(it->first, id, rid, std::move(message)))
      return fail(session, ErrorCode::unavailable, "the cluster cannot take messages now", rid);
    return;  // acked by confirm_say, delivered by apply_stored
  }
  const std::uint64_t seq = room.last_seq + 1;
  if (seq > seq_limit_) seq_limit_ = extend_seq_lease_();  // throws when it cannot persist
  room.last_seq = seq;
  seq_high_ = std::max(seq_high_, seq);
  ack(session, rid, room.last_seq);
  fan_out(room, id, json);
  messages_relayed_ += room.members.size() - 1;
  history_.record(it->first, StoredMessage{seq, now, session.nick, say.text, say.action}, now);
}

void Hub::expire_history(std::chrono::system_clock::time_point now) {
  history_.expire(now);
  // What a cluster node knows of rooms without members here goes with their history: a join
  // after that is acked from 0 (known_last_seq), which stays true.
  std::erase_if(applied_seq_,
                [&](const auto& entry) { return !history_.last_seq(entry.first).has_value(); });
}

std::uint64_t Hub::known_last_seq(const std::string& key) const {
  if (!replicator_) return history_.last_seq(key).value_or(seq_high_);
  // A cluster's seqs come from the stream (docs/cluster.md), not from this run's lease; a room
  // this node has seen nothing of is acked from 0: the member still gets every message the node
  // applies after the join, which is what the ack promises.
  const auto applied = applied_seq_.find(key);
  if (applied != applied_seq_.end()) return applied->second;
  return history_.last_seq(key).value_or(0);
}

void Hub::confirm_say(SessionId session, const RequestId& request, std::uint64_t seq) {
  const auto it = sessions_.find(session);
  if (it != sessions_.end()) ack(it->second, request, seq);
}

void Hub::refuse_say(SessionId session, const RequestId& request, std::string_view why) {
  const auto it = sessions_.find(session);
  if (it != sessions_.end()) fail(it->second, ErrorCode::unavailable, why, request);
}

void Hub::apply_stored(const std::string& key, const ClusterMessage& message,
                       std::chrono::system_clock::time_point now) {
  const auto room = rooms_.find(key);
  std::uint64_t& last = room != rooms_.end() ? room->second.last_seq : applied_seq_[key];
  if (message.seq <= last) return;
  last = message.seq;
  seq_high_ = std::max(seq_high_, message.seq);
  if (room != rooms_.end()) {
    const SessionId sender = message.node == node_ ? message.session : 0;
    const std::string json =
        evt::serialize(evt::Message{room->second.name, message.from, message.text,
                                    format_timestamp(message.at), message.seq, message.action});
    // A member whose max_frame cannot take it misses it; the proposer checked against its own
    // node's members only (docs/cluster.md).
    for (SessionId member : room->second.members) {
      if (member == sender) continue;
      Member& target = *sessions_.at(member).member;
      if (json.size() > target.max_event_bytes()) continue;
      target.deliver(json);
      ++messages_relayed_;
    }
  }
  history_.record(
      key, StoredMessage{message.seq, message.at, message.from, message.text, message.action}, now);
}

void Hub::on_msg(Session& session, const RequestId& rid, const req::Msg& msg,
                 std::chrono::system_clock::time_point now) {
  if (!is_valid_name(msg.to)) return fail(session, ErrorCode::bad_name, "invalid nick", rid);
  const std::string folded = fold_name(msg.to);
  const auto target = nicks_.find(folded);
  const RemoteSession* remote = target == nicks_.end() ? remote_holder(folded) : nullptr;
  if (target == nicks_.end() && !remote)
    return fail(session, ErrorCode::no_such_nick, "no such nick", rid);
  const std::string json =
      evt::serialize(evt::Direct{session.nick, msg.text, format_timestamp(now), msg.action});
  if (remote) return on_remote_msg(session, rid, *remote, json);
  Session& recipient = sessions_.at(target->second);
  if (json.size() > recipient.member->max_event_bytes())
    return fail(session, ErrorCode::too_long, "too long for the recipient once encoded", rid);
  recipient.member->deliver(json);
  ++messages_relayed_;
  ack(session, rid);
}

void Hub::on_remote_msg(Session& session, const RequestId& rid, const RemoteSession& target,
                        const std::string& json) {
  if (!directory_->available())
    return fail(session, ErrorCode::unavailable, "cut off from the cluster: try again later", rid);
  // The recipient's max_frame is its node's to know: every session takes this much.
  if (json.size() > kSmallestEventLimit)
    return fail(session, ErrorCode::too_long, "too long for the recipient once encoded", rid);
  directory_->send_direct(target, json);
  ack(session, rid);
}

namespace {

// The page size a listing request asks for, within the server's bounds.
std::size_t page_size(const std::optional<std::uint64_t>& limit) {
  return limit ? static_cast<std::size_t>(std::min<std::uint64_t>(*limit, kPageMax)) : kPageDefault;
}

// What one more entry adds to a listing's JSON: names are [A-Za-z0-9_.-] (nothing to escape),
// quotes and a comma; a room entry adds its keys and its member count.
std::size_t nick_entry_bytes(const std::string& nick) {
  return nick.size() + 3;
}
std::size_t room_entry_bytes(const evt::RoomInfo& room) {
  return room.name.size() + std::to_string(room.members).size() + 25;
}

// Fills a page while it fits `budget` bytes of JSON (the event's own fields come out of
// it first); `next` is set when entries remain.
template <typename Entry, typename Size>
void fill_page(std::vector<Entry>& out, std::vector<Entry> candidates, std::size_t budget,
               std::size_t limit, bool more_after, Size entry_bytes,
               const std::function<std::string(const Entry&)>& name_of,
               std::optional<std::string>& next) {
  std::size_t used = 0;
  for (auto& entry : candidates) {
    const std::size_t bytes = entry_bytes(entry);
    if (out.size() == limit || used + bytes > budget) {
      next = name_of(out.back());
      return;
    }
    used += bytes;
    out.push_back(std::move(entry));
  }
  if (more_after && !out.empty()) next = name_of(out.back());
}

// Room for the envelope of a listing event: type, room, id (a string id up to what a request
// may carry), next, and JSON punctuation.
std::size_t listing_envelope(std::size_t event_limit, std::size_t id_bytes) {
  const std::size_t envelope = 128 + 2 * kMaxNameBytes + id_bytes;
  return event_limit > envelope ? event_limit - envelope : 0;
}

std::size_t id_bytes(const RequestId& rid) {
  if (const auto* s = std::get_if<std::string>(&rid)) return s->size() * 6 + 2;  // escaped
  return 24;
}

}  // namespace

void Hub::on_who(Session& session, const RequestId& rid, const req::Who& request) const {
  evt::Who who{request.room, {}, rid};
  const std::string key = fold_name(request.room);
  const auto it = rooms_.find(key);
  // In a cluster the room's members on other nodes too (docs/cluster.md).
  const auto remote =
      directory_ ? directory_->remote().members(key) : std::vector<const RemoteSession*>{};
  if (it != rooms_.end() || !remote.empty()) {
    who.room = it != rooms_.end() ? it->second.name : directory_->remote().rooms().at(key).name;
    const std::string after = request.after ? fold_name(*request.after) : std::string();
    const std::size_t limit = page_size(request.limit);
    // The members after `after` in folded order (case-insensitive, so "Bob" sorts next to
    // "bob2" rather than before "alice"), the smallest limit + 1 of them: a scan of the room,
    // and a sort of what is returned.
    std::vector<std::pair<std::string, const std::string*>> candidates;
    auto consider = [&](const std::string& nick) {
      std::string folded = fold_name(nick);
      if (folded > after) candidates.emplace_back(std::move(folded), &nick);
    };
    if (it != rooms_.end())
      for (SessionId member : it->second.members)
        consider(sessions_.at(member).nick);
    for (const RemoteSession* member : remote)
      consider(member->nick);
    const std::size_t keep = std::min(candidates.size(), limit + 1);
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep),
                      candidates.end());
    const bool more = candidates.size() > limit;
    std::vector<std::string> page;
    for (std::size_t i = 0; i < std::min(keep, limit); ++i)
      page.push_back(*candidates[i].second);
    fill_page<std::string>(
        who.nicks, std::move(page),
        listing_envelope(session.member->max_event_bytes(), id_bytes(rid)), limit, more,
        nick_entry_bytes, [](const std::string& nick) { return nick; }, who.next);
  }
  session.member->deliver(evt::serialize(who));
}

void Hub::on_rooms(Session& session, const RequestId& rid, const req::Rooms& request) const {
  evt::Rooms reply{{}, rid};
  const std::size_t limit = page_size(request.limit);
  // Both indexes are in folded order: the page costs what it returns, whatever the number of
  // rooms. In a cluster the rooms with members on other nodes are merged in (docs/cluster.md).
  static const std::map<std::string, RemoteSessions::RoomInfo> kNoRemoteRooms;
  const auto& remote = directory_ ? directory_->remote().rooms() : kNoRemoteRooms;
  const std::string after = request.after ? fold_name(*request.after) : std::string();
  auto it = request.after ? room_order_.upper_bound(after) : room_order_.begin();
  auto rit = request.after ? remote.upper_bound(after) : remote.begin();
  std::vector<evt::RoomInfo> page;
  while ((it != room_order_.end() || rit != remote.end()) && page.size() < limit) {
    const bool local_first = rit == remote.end() || (it != room_order_.end() && *it <= rit->first);
    if (local_first) {
      const Room& room = rooms_.at(*it);
      std::size_t members = room.members.size();
      if (rit != remote.end() && rit->first == *it) members += (rit++)->second.holders.size();
      page.push_back(evt::RoomInfo{room.name, members});
      ++it;
    } else {
      page.push_back(evt::RoomInfo{rit->second.name, rit->second.holders.size()});
      ++rit;
    }
  }
  fill_page<evt::RoomInfo>(
      reply.rooms, std::move(page),
      listing_envelope(session.member->max_event_bytes(), id_bytes(rid)), limit,
      it != room_order_.end() || rit != remote.end(), room_entry_bytes,
      [](const evt::RoomInfo& room) { return room.name; }, reply.next);
  session.member->deliver(evt::serialize(reply));
}

// The reply is queued whole, in this turn: every replay event is ahead of any live message of
// the room accepted after it. It stops early (with `more`) at the member's reply budget, at least
// one message in: the client asks again from the last seq it got, once the session has written
// this reply (replies_with_a_page), so a long history reaches a slow reader at its own pace.
void Hub::on_history(SessionId id, Session& session, const RequestId& rid,
                     const req::History& request, std::chrono::system_clock::time_point now) {
  const auto it = rooms_.find(fold_name(request.room));
  if (it == rooms_.end() || !contains(it->second.members, id))
    return fail(session, ErrorCode::not_member, "not a member of that room", rid);
  const Room& room = it->second;
  const std::size_t limit =
      std::min<std::uint64_t>(request.limit.value_or(kHistoryDefault), kHistoryMax);
  const RoomHistory::Slice slice =
      history_.slice(it->first, request.after, limit, room.last_seq, now);
  evt::HistoryEnd end{room.name, slice.more, slice.complete, rid};
  const std::size_t budget = session.member->reply_budget_bytes();
  std::size_t queued = 0;
  for (const StoredMessage* stored_message : slice.messages) {
    const StoredMessage& stored = *stored_message;
    const std::string json = evt::serialize(evt::Message{room.name, stored.from, stored.text,
                                                         format_timestamp(stored.at), stored.seq,
                                                         stored.action, /*replay=*/true});
    // Said when this member's max_frame was not in the room (a reload lowered it): it cannot
    // be sent, so the reply cannot vouch for having everything.
    if (json.size() > session.member->max_event_bytes()) {
      end.complete = false;
      continue;
    }
    if (queued > 0 && queued + json.size() > budget) {
      end.more = true;
      break;
    }
    queued += json.size();
    session.member->deliver(json);
  }
  session.member->deliver(evt::serialize(end));
}

void Hub::erase_room(std::unordered_map<std::string, Room>::iterator room) {
  // In a cluster, messages go on being applied while nobody here is a member.
  if (replicator_) applied_seq_[room->first] = room->second.last_seq;
  room_order_.erase(room->first);
  rooms_.erase(room);
}

std::size_t Hub::smallest_event_limit(const Room& room, SessionId except) const {
  std::size_t smallest = SIZE_MAX;
  for (SessionId member : room.members)
    if (member != except)
      smallest = std::min(smallest, sessions_.at(member).member->max_event_bytes());
  return smallest;
}

void Hub::ack(Session& session, const RequestId& rid, std::optional<std::uint64_t> seq) {
  if (has_id(rid)) session.member->deliver(evt::serialize(evt::Ack{rid, seq}));
}

void Hub::fail(Session& session, ErrorCode code, std::string_view message, const RequestId& rid) {
  session.member->deliver(evt::serialize(evt::Error{code, std::string(message), rid}));
}

void Hub::fan_out(const Room& room, SessionId except, std::string_view json) const {
  for (SessionId member : room.members) {
    if (member != except) sessions_.at(member).member->deliver(json);
  }
}

void Hub::deliver_once(std::vector<SessionId> ids, std::string_view json) const {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (SessionId id : ids)
    sessions_.at(id).member->deliver(json);
}

}  // namespace parley::server
