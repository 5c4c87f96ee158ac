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

// Case-insensitive order for listings, so "Bob" sorts next to "bob2" rather than before "alice".
bool folded_less(const std::string& a, const std::string& b) {
  const std::string fa = fold_name(a);
  const std::string fb = fold_name(b);
  return fa != fb ? fa < fb : a < b;
}

}  // namespace

Hub::Hub(std::function<std::uint16_t()> guest_suffix) : guest_suffix_(std::move(guest_suffix)) {}

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
  return !nicks_.contains(folded_nick) && !owners_by_nick_.contains(folded_nick);
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
        !nicks_.contains(fold_name(owned->second))) {
      nick = owned->second;
    }
  }
  if (nick.empty()) nick = fresh_guest_nick();

  nicks_.emplace(fold_name(nick), id);
  sessions_.emplace(id, Session{&member, nick, std::string(fingerprint), {}});
  return nick;
}

void Hub::detach(SessionId id, std::string_view reason) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session session = std::move(it->second);
  sessions_.erase(it);
  nicks_.erase(fold_name(session.nick));

  // State is settled before anything is delivered, so recipients are all still attached.
  std::vector<SessionId> recipients;
  for (const std::string& key : session.rooms) {
    const auto room = rooms_.find(key);
    if (room == rooms_.end()) continue;
    erase_value(room->second.members, id);
    if (room->second.members.empty()) {
      rooms_.erase(room);
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

HubStats Hub::stats() const {
  return HubStats{sessions_.size(), rooms_.size(), messages_relayed_};
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
    on_nick(id, session, rid, nick->nick);
  } else if (const auto* join = std::get_if<req::Join>(&request.body)) {
    on_join(id, session, rid, join->room);
  } else if (const auto* part = std::get_if<req::Part>(&request.body)) {
    on_part(id, session, rid, part->room);
  } else if (const auto* say = std::get_if<req::Say>(&request.body)) {
    on_say(id, session, rid, *say, now);
  } else if (const auto* msg = std::get_if<req::Msg>(&request.body)) {
    on_msg(session, rid, *msg, now);
  } else if (const auto* who = std::get_if<req::Who>(&request.body)) {
    on_who(session, rid, who->room);
  } else if (std::holds_alternative<req::Rooms>(request.body)) {
    on_rooms(session, rid);
  } else if (std::holds_alternative<req::Ping>(request.body)) {
    session.member->deliver(evt::serialize(evt::Pong{rid}));
  } else if (std::holds_alternative<req::Quit>(request.body)) {
    ack(session, rid);
    return AfterRequest::close_normally;
  }
  // req::Pong only proves liveness, which the session tracks itself.
  return AfterRequest::keep_open;
}

void Hub::on_nick(SessionId id, Session& session, const RequestId& rid, const std::string& nick) {
  if (!is_valid_name(nick)) return fail(session, ErrorCode::bad_name, "invalid nick", rid);
  const std::string folded = fold_name(nick);
  const std::string old_folded = fold_name(session.nick);
  // Already holding it (any case): a case change, which no reservation can forbid.
  if (folded != old_folded) {
    // The server names its guests: nobody may pass for one, or take a name it may hand out.
    if (folded.starts_with(kGuestPrefix))
      return fail(session, ErrorCode::nick_reserved, "guest- names are the server's", rid);
    if (nicks_.contains(folded)) return fail(session, ErrorCode::nick_taken, "nick taken", rid);
    if (reserved_against(folded, session.fingerprint)) {
      return fail(session, ErrorCode::nick_reserved, "nick reserved", rid);
    }
  }

  const std::string old_nick = std::exchange(session.nick, nick);
  nicks_.erase(old_folded);
  nicks_.emplace(folded, id);
  ack(session, rid);
  if (old_nick == nick) return;
  if (observer_) observer_->on_nick(id, old_nick, nick);

  std::vector<SessionId> sharers;
  for (const std::string& key : session.rooms) {
    const Room& room = rooms_.at(key);
    for (SessionId other : room.members) {
      if (other != id) sharers.push_back(other);
    }
  }
  if (sharers.empty()) return;
  deliver_once(std::move(sharers), evt::serialize(evt::NickChanged{old_nick, nick}));
}

void Hub::on_join(SessionId id, Session& session, const RequestId& rid, const std::string& name) {
  if (!is_valid_name(name)) return fail(session, ErrorCode::bad_name, "invalid room name", rid);
  std::string key = fold_name(name);
  auto [it, created] = rooms_.try_emplace(key, Room{name, {}, 0});
  Room& room = it->second;
  if (!created && contains(room.members, id)) return ack(session, rid, room.last_seq);

  room.members.push_back(id);
  session.rooms.push_back(std::move(key));
  // The last seq the member will not be sent: every message after it, it will.
  ack(session, rid, room.last_seq);
  if (observer_) observer_->on_join(id, session.nick, room.name);
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
  // The last seq the member was sent (parleyd's addition to 6.1: a part's ack says where its
  // stream of the room ends).
  ack(session, rid, room.last_seq);
  if (observer_) observer_->on_part(id, session.nick, room.name);
  if (room.members.empty()) {
    rooms_.erase(it);
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
  const std::string json = evt::serialize(
      evt::Message{room.name, session.nick, say.text, format_timestamp(now), ++room.last_seq});
  ack(session, rid, room.last_seq);
  fan_out(room, id, json);
  messages_relayed_ += room.members.size() - 1;
}

void Hub::on_msg(Session& session, const RequestId& rid, const req::Msg& msg,
                 std::chrono::system_clock::time_point now) {
  if (!is_valid_name(msg.to)) return fail(session, ErrorCode::bad_name, "invalid nick", rid);
  const auto target = nicks_.find(fold_name(msg.to));
  if (target == nicks_.end()) return fail(session, ErrorCode::no_such_nick, "no such nick", rid);
  Session& recipient = sessions_.at(target->second);
  recipient.member->deliver(
      evt::serialize(evt::Direct{session.nick, msg.text, format_timestamp(now)}));
  ++messages_relayed_;
  ack(session, rid);
}

void Hub::on_who(Session& session, const RequestId& rid, const std::string& name) const {
  if (!is_valid_name(name)) return fail(session, ErrorCode::bad_name, "invalid room name", rid);
  evt::Who who{name, {}, rid};
  const auto it = rooms_.find(fold_name(name));
  if (it != rooms_.end()) {
    who.room = it->second.name;
    who.nicks.reserve(it->second.members.size());
    for (SessionId member : it->second.members)
      who.nicks.push_back(sessions_.at(member).nick);
    std::sort(who.nicks.begin(), who.nicks.end(), folded_less);
  }
  session.member->deliver(evt::serialize(who));
}

void Hub::on_rooms(Session& session, const RequestId& rid) const {
  evt::Rooms reply{{}, rid};
  reply.rooms.reserve(rooms_.size());
  for (const auto& [key, room] : rooms_) {
    reply.rooms.push_back(evt::RoomInfo{room.name, room.members.size()});
  }
  std::sort(
      reply.rooms.begin(), reply.rooms.end(),
      [](const evt::RoomInfo& a, const evt::RoomInfo& b) { return folded_less(a.name, b.name); });
  session.member->deliver(evt::serialize(reply));
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
