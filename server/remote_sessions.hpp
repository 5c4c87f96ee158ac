// What this node knows of the sessions other nodes serve (docs/cluster.md), as pure code: built
// from the directory bucket's entries as they are written, in the bucket's order, and aged out
// when their node stops refreshing them (a node that died, or was cut off). Every change is
// returned as a PresenceChange for the hub to announce to its own members: a remote session that
// joins, parts, changes nick or ends is seen here exactly as a local one would be.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster_wire.hpp"

namespace parley::server {

struct PresenceChange {
  enum class Kind { joined, parted, nick, quit };
  Kind kind = Kind::joined;
  std::string nick;      // the session's nick (the old one for `nick`)
  std::string new_nick;  // `nick` only
  std::string room;      // display name: `joined` and `parted`
  // Folded room keys whose local members are told: the one room for joined/parted, every room
  // of the session for nick/quit.
  std::vector<std::string> rooms;
  std::string reason;  // `quit` only
  bool operator==(const PresenceChange&) const = default;
};

struct RemoteSession {
  std::string node;
  std::string process;
  std::uint64_t session = 0;
  std::string nick;
  std::string fingerprint;
  std::vector<std::string> rooms;  // display names
  std::chrono::steady_clock::time_point seen;
};

// The quit reason members see for a session whose node stopped refreshing it.
inline constexpr std::string_view kNodeLostReason = "its server left the cluster";

class RemoteSessions {
 public:
  struct RoomInfo {
    std::string name;               // display name, from the first entry that named it
    std::set<std::string> holders;  // ids of the remote sessions in it
  };

  explicit RemoteSessions(std::string own_node) : own_node_(std::move(own_node)) {}

  // One entry as read from the bucket. Entries of this node's own name are not remote (this
  // node knows its sessions; an earlier process's are stale) and are ignored.
  std::vector<PresenceChange> apply(const DirectoryEntry& entry,
                                    std::chrono::steady_clock::time_point now);
  // Sessions not refreshed for `ttl` are gone (their node died or was cut off): each a quit.
  std::vector<PresenceChange> expire(std::chrono::steady_clock::time_point now,
                                     std::chrono::steady_clock::duration ttl);

  // The remote session holding this folded nick.
  const RemoteSession* holder(const std::string& folded_nick) const;
  // Remote members of the room (folded key), and remote rooms by folded key (in folded order).
  std::vector<const RemoteSession*> members(const std::string& folded_room) const;
  const std::map<std::string, RoomInfo>& rooms() const { return rooms_; }
  std::size_t size() const { return sessions_.size(); }

 private:
  using Sessions = std::unordered_map<std::string, RemoteSession>;

  // Removes the session, returning its quit.
  PresenceChange remove(Sessions::iterator it, std::string reason);
  void enter_room(const std::string& id, const std::string& name);
  void leave_room(const std::string& id, const std::string& name);

  std::string own_node_;
  Sessions sessions_;                                     // node/process/session -> session
  std::unordered_map<std::string, std::string> by_nick_;  // folded nick -> id
  std::map<std::string, RoomInfo> rooms_;                 // folded room -> its remote members
};

}  // namespace parley::server
