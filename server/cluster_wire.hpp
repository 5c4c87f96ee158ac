// What crosses NATS between the nodes of a cluster (docs/cluster.md), as pure code: the room
// subject naming and the payload of a stored room message. Nothing here touches NATS; the link
// (nats_link.*) moves these strings, the hub applies what they decode to.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::server {

// `<prefix>.room.<hex of the folded room name>`: room names may contain '.', NATS's token
// separator, so the name is hex-encoded (a bijection onto always-valid tokens).
std::string room_subject(std::string_view prefix, std::string_view folded_room);
// The wildcard every node's ordered consumer reads: `<prefix>.room.*`.
std::string room_subject_wildcard(std::string_view prefix);
// The folded room name back from a room subject of this prefix; nullopt for anything else
// (another prefix, a bad token): such a message is ignored, not trusted.
std::optional<std::string> room_of_subject(std::string_view prefix, std::string_view subject);

// One `say` as stored in the room's subject. `seq` is the room seq the proposer chose, or 0 for
// the first message of an empty subject, whose seq is then its stream sequence (docs/cluster.md:
// why that never goes back).
struct ClusterMessage {
  std::uint64_t seq = 0;
  std::string from;  // the sender's nick
  std::string text;
  bool action = false;
  std::chrono::system_clock::time_point at;  // when the proposing node accepted it
  std::string node;                          // the proposing node
  std::uint64_t session = 0;                 // the sender's session id on that node
  bool operator==(const ClusterMessage&) const = default;
};

std::string encode(const ClusterMessage& message);
// nullopt for anything that is not a well-formed message of this version (a node of another
// version, a stray publish): logged and skipped by the caller, never applied half.
std::optional<ClusterMessage> decode_cluster_message(std::string_view payload);

// A session's entry in the cluster's directory (docs/cluster.md): the KeyValue bucket
// `<name>_nicks`, one key per held nick (nick_key), written by the node serving the session. A
// session that ended, or moved to another nick, leaves a tombstone (`gone` set) that any node may
// overwrite: the nick is free.
struct DirectoryEntry {
  std::string node;
  std::string process;  // the node's start (ClusterMember): session ids restart with a process
  std::uint64_t session = 0;
  std::string nick;                // display form
  std::string fingerprint;         // "" if anonymous
  std::vector<std::string> rooms;  // display names, in join order
  std::string gone;  // non-empty: a tombstone, with the quit reason (or "nick" after a change)
  bool operator==(const DirectoryEntry&) const = default;
};

// A session's rooms in one entry, at most: a session's rooms are bounded by
// limits.max_rooms_per_session well below it; an entry with more is not trusted.
inline constexpr std::size_t kMaxEntryRooms = 4096;

// The key of a nick in the directory bucket: the folded nick in lowercase hex (KeyValue keys
// allow [-/_=.a-zA-Z0-9], names also '.', and hex is always a valid key).
std::string nick_key(std::string_view folded_nick);

std::string encode(const DirectoryEntry& entry);
// nullopt for anything but a well-formed entry with valid names (a stray write is ignored).
std::optional<DirectoryEntry> decode_directory_entry(std::string_view payload);

// A direct message to a session on another node, published on that node's subject
// (`<prefix>.direct.<hex of node>`): the `direct` event as its recipient gets it.
struct RemoteDirect {
  std::string process;  // the recipient node's start: a restarted node drops it
  std::uint64_t session = 0;
  std::string to;     // the nick it was sent to (a session that changed nick meanwhile drops it)
  std::string event;  // the serialized `direct` event
  bool operator==(const RemoteDirect&) const = default;
};
std::string direct_subject(std::string_view prefix, std::string_view node);
std::string encode(const RemoteDirect& direct);
std::optional<RemoteDirect> decode_remote_direct(std::string_view payload);

// The room seq a stored message stands for: its own, or its stream sequence when it opened
// the subject.
inline std::uint64_t resolved_seq(const ClusterMessage& message, std::uint64_t stream_seq) {
  return message.seq != 0 ? message.seq : stream_seq;
}

}  // namespace parley::server
