#include "remote_sessions.hpp"

#include <algorithm>
#include <utility>

#include "parley/names.hpp"

namespace parley::server {
namespace {

std::string id_of(const DirectoryEntry& entry) {
  return entry.node + '/' + entry.process + '/' + std::to_string(entry.session);
}

std::vector<std::string> folded(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  out.reserve(names.size());
  for (const auto& name : names)
    out.push_back(fold_name(name));
  return out;
}

bool has_room(const std::vector<std::string>& names, const std::string& folded_name) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& name) { return fold_name(name) == folded_name; });
}

// The same rooms, once each by folded name (an entry is not trusted to be tidy).
std::vector<std::string> distinct(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& name : names)
    if (!has_room(out, fold_name(name))) out.push_back(name);
  return out;
}

PresenceChange room_change(PresenceChange::Kind kind, const std::string& nick,
                           const std::string& room) {
  PresenceChange change;
  change.kind = kind;
  change.nick = nick;
  change.room = room;
  change.rooms = {fold_name(room)};
  return change;
}

}  // namespace

std::vector<PresenceChange> RemoteSessions::apply(const DirectoryEntry& entry,
                                                  std::chrono::steady_clock::time_point now) {
  std::vector<PresenceChange> changes;
  if (entry.node == own_node_) return changes;
  const std::string id = id_of(entry);
  const std::string folded_nick = fold_name(entry.nick);
  const auto held = by_nick_.find(folded_nick);
  auto it = sessions_.find(id);

  if (!entry.gone.empty()) {
    // A tombstone ends the session only while it still holds that nick: after a nick change the
    // old nick's tombstone comes after the new nick's entry.
    if (it != sessions_.end() && fold_name(it->second.nick) == folded_nick)
      changes.push_back(remove(it, entry.gone));
    return changes;
  }

  // The key is the nick: another session's entry under it means that session no longer holds
  // it (it expired unseen, or this is a takeover of a tombstone we missed).
  if (held != by_nick_.end() && held->second != id) {
    const auto other = sessions_.find(held->second);
    if (other != sessions_.end()) changes.push_back(remove(other, std::string(kNodeLostReason)));
  }

  const std::vector<std::string> rooms = distinct(entry.rooms);
  if (it == sessions_.end()) {
    RemoteSession session;
    session.node = entry.node;
    session.process = entry.process;
    session.session = entry.session;
    session.nick = entry.nick;
    session.fingerprint = entry.fingerprint;
    session.seen = now;
    it = sessions_.emplace(id, std::move(session)).first;
    by_nick_[folded_nick] = id;
  } else if (it->second.nick != entry.nick) {
    const std::string old_nick = std::exchange(it->second.nick, entry.nick);
    if (const auto old = by_nick_.find(fold_name(old_nick));
        old != by_nick_.end() && old->second == id)
      by_nick_.erase(old);
    by_nick_[folded_nick] = id;
    PresenceChange change;
    change.kind = PresenceChange::Kind::nick;
    change.nick = old_nick;
    change.new_nick = entry.nick;
    change.rooms = folded(it->second.rooms);
    changes.push_back(std::move(change));
  }
  RemoteSession& session = it->second;
  session.seen = now;
  session.fingerprint = entry.fingerprint;

  for (const auto& name : session.rooms) {
    if (has_room(rooms, fold_name(name))) continue;
    leave_room(id, name);
    changes.push_back(room_change(PresenceChange::Kind::parted, session.nick, name));
  }
  for (const auto& name : rooms) {
    if (has_room(session.rooms, fold_name(name))) continue;
    enter_room(id, name);
    changes.push_back(room_change(PresenceChange::Kind::joined, session.nick, name));
  }
  session.rooms = rooms;
  return changes;
}

std::vector<PresenceChange> RemoteSessions::expire(std::chrono::steady_clock::time_point now,
                                                   std::chrono::steady_clock::duration ttl) {
  std::vector<PresenceChange> changes;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    auto next = std::next(it);
    if (now - it->second.seen > ttl) changes.push_back(remove(it, std::string(kNodeLostReason)));
    it = next;
  }
  return changes;
}

PresenceChange RemoteSessions::remove(Sessions::iterator it, std::string reason) {
  const std::string id = it->first;
  RemoteSession session = std::move(it->second);
  sessions_.erase(it);
  if (const auto held = by_nick_.find(fold_name(session.nick));
      held != by_nick_.end() && held->second == id)
    by_nick_.erase(held);
  for (const auto& name : session.rooms)
    leave_room(id, name);
  PresenceChange change;
  change.kind = PresenceChange::Kind::quit;
  change.nick = session.nick;
  change.rooms = folded(session.rooms);
  change.reason = std::move(reason);
  return change;
}

void RemoteSessions::enter_room(const std::string& id, const std::string& name) {
  auto [it, created] = rooms_.try_emplace(fold_name(name));
  if (created) it->second.name = name;
  it->second.holders.insert(id);
}

void RemoteSessions::leave_room(const std::string& id, const std::string& name) {
  const auto it = rooms_.find(fold_name(name));
  if (it == rooms_.end()) return;
  it->second.holders.erase(id);
  if (it->second.holders.empty()) rooms_.erase(it);
}

const RemoteSession* RemoteSessions::holder(const std::string& folded_nick) const {
  const auto held = by_nick_.find(folded_nick);
  if (held == by_nick_.end()) return nullptr;
  const auto it = sessions_.find(held->second);
  return it == sessions_.end() ? nullptr : &it->second;
}

std::vector<const RemoteSession*> RemoteSessions::members(const std::string& folded_room) const {
  std::vector<const RemoteSession*> out;
  const auto room = rooms_.find(folded_room);
  if (room == rooms_.end()) return out;
  for (const auto& id : room->second.holders)
    if (const auto it = sessions_.find(id); it != sessions_.end()) out.push_back(&it->second);
  return out;
}

}  // namespace parley::server
