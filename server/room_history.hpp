// Room history (PROTOCOL.md 6.4) as pure code: each room's last messages, bounded by a count
// per room, an age, and one byte budget across all rooms (the globally oldest message goes
// first). The hub owns one store and feeds it every accepted room message; nothing here reads
// a clock (`now` comes in), so every bound is unit-testable. Direct messages never come here.
//
// A room's record lives here, not in the hub's room table: a room whose last member left keeps
// its history (and so its seq, which goes on from the last one stored) until its messages are
// evicted, without counting as a room or showing in listings.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::server {

struct HistoryLimits {
  std::size_t messages = 100;  // per room; 0: nothing is stored
  std::chrono::seconds max_age{86400};
  std::size_t max_bytes = std::size_t{64} << 20;  // across all rooms, as cost() counts
  bool operator==(const HistoryLimits&) const = default;
};

struct StoredMessage {
  std::uint64_t seq = 0;
  std::chrono::system_clock::time_point at;  // the event's ts is formatted from it
  std::string from;
  std::string text;
  bool action = false;
};

class RoomHistory {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // What a message and a room's record cost against max_bytes besides their strings: the
  // entry and its place in the room's deque, the two heap blocks of its strings with the
  // allocator's headers; the record's hash node, deque map and first block, and its index entry.
  static constexpr std::size_t kMessageOverhead = 128;
  static constexpr std::size_t kRoomOverhead = 800;
  static std::size_t cost(const StoredMessage& message) {
    return kMessageOverhead + message.from.size() + message.text.size();
  }

  explicit RoomHistory(HistoryLimits limits = {}) : limits_(limits) {}

  // In force at once: what the new bounds exclude is evicted now.
  void set_limits(HistoryLimits limits, TimePoint now);
  const HistoryLimits& limits() const { return limits_; }
  // Seqs at or below `base` were issued by an earlier run, whose messages this store never saw.
  void set_run_base(std::uint64_t base) { run_base_ = base; }

  // Keeps an accepted message of the room `key` (its folded name); a room's seqs only grow.
  void record(const std::string& key, StoredMessage message, TimePoint now);

  // The seq of the room's newest stored message, while it has one: a room created again goes
  // on from there.
  std::optional<std::uint64_t> last_seq(const std::string& key) const;

  struct Slice {
    std::vector<const StoredMessage*> messages;  // oldest first; valid until the next change
    bool more = false;                           // stored messages with a higher seq remain
    bool complete = false;                       // every message with seq > after is still stored
  };
  // With `after`: the oldest `limit` stored messages with seq > after; without: the newest
  // `limit` (and complete only if nothing of the room was ever lost). `room_last_seq` is the
  // room's current seq, for a room that has nothing stored.
  Slice slice(const std::string& key, std::optional<std::uint64_t> after, std::size_t limit,
              std::uint64_t room_last_seq, TimePoint now);

  // Evicts what is past max_age in every room (the periodic sweep; reads evict lazily too).
  void expire(TimePoint now);

  std::size_t messages() const { return messages_; }
  std::size_t bytes() const { return bytes_; }
  std::size_t rooms() const { return logs_.size(); }

 private:
  struct Entry {
    StoredMessage message;
    std::uint64_t stamp;  // insertion order across all rooms: the global age order
  };
  struct Log {
    std::deque<Entry> entries;
    // No seq at or below it is vouched for (evicted, or before this store knew the room).
    std::uint64_t floor = 0;
  };
  using Logs = std::unordered_map<std::string, Log>;
  using Node = Logs::value_type;  // stable address: the age index points at it

  bool expired(const Entry& entry, TimePoint now) const;
  // Evicts the room's oldest message; erases the record when that was its last.
  void evict_oldest(Node& node);
  void expire_room(Node& node, TimePoint now);
  void drop_room(Node& node);
  void fit_budget();
  // The seq below which nothing is vouched for in a room this store holds no record of.
  std::uint64_t unknown_floor() const;

  HistoryLimits limits_;
  Logs logs_;
  std::map<std::uint64_t, Node*> by_age_;  // stamp of each room's oldest entry -> its record
  std::uint64_t next_stamp_ = 0;
  std::uint64_t run_base_ = 0;
  // The highest seq of a room record dropped (every message evicted) or of a message not kept
  // (history off): a room without a record cannot vouch for anything up to here.
  std::uint64_t dropped_high_ = 0;
  std::size_t messages_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace parley::server
