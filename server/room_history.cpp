#include "room_history.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace parley::server {

void RoomHistory::set_limits(HistoryLimits limits, TimePoint now) {
  limits_ = limits;
  if (limits_.messages == 0) {
    while (!by_age_.empty())
      drop_room(*by_age_.begin()->second);
    return;
  }
  // A count of at least one never empties a record, so none is erased while this walks them.
  for (auto& node : logs_)
    while (node.second.entries.size() > limits_.messages)
      evict_oldest(node);
  expire(now);
  fit_budget();
}

void RoomHistory::record(const std::string& key, StoredMessage message, TimePoint now) {
  if (limits_.messages == 0) {
    dropped_high_ = std::max(dropped_high_, message.seq);
    return;
  }
  if (const auto existing = logs_.find(key); existing != logs_.end()) expire_room(*existing, now);
  auto [it, created] = logs_.try_emplace(key);
  Node& node = *it;
  Log& log = node.second;
  if (created) {
    // What came before this message in this room is either from an earlier run or was dropped.
    log.floor = std::min(message.seq - 1, unknown_floor());
    bytes_ += kRoomOverhead + key.size();
  }
  const std::uint64_t stamp = next_stamp_++;
  if (log.entries.empty()) by_age_.emplace(stamp, &node);
  bytes_ += cost(message);
  ++messages_;
  log.entries.push_back(Entry{std::move(message), stamp});
  if (log.entries.size() > limits_.messages) evict_oldest(node);
  fit_budget();  // may evict this room's record: nothing of it is used after this
}

std::optional<std::uint64_t> RoomHistory::last_seq(const std::string& key) const {
  const auto it = logs_.find(key);
  if (it == logs_.end()) return std::nullopt;
  return it->second.entries.back().message.seq;
}

RoomHistory::Slice RoomHistory::slice(const std::string& key, std::optional<std::uint64_t> after,
                                      std::size_t limit, std::uint64_t room_last_seq,
                                      TimePoint now) {
  Slice slice;
  const std::uint64_t from = after.value_or(0);
  auto it = logs_.find(key);
  if (it != logs_.end()) {
    expire_room(*it, now);
    it = logs_.find(key);  // expiry may have dropped the record
  }
  if (it == logs_.end()) {
    slice.complete = from >= std::min(room_last_seq, unknown_floor());
    return slice;
  }
  const Log& log = it->second;
  slice.complete = from >= log.floor;
  const auto& entries = log.entries;
  auto first = std::upper_bound(
      entries.begin(), entries.end(), from,
      [](std::uint64_t seq, const Entry& entry) { return seq < entry.message.seq; });
  const auto available = static_cast<std::size_t>(std::distance(first, entries.end()));
  if (available > limit) {
    if (after) {
      slice.more = true;
    } else {
      first = entries.end() - static_cast<std::ptrdiff_t>(limit);
    }
  }
  const std::size_t count = std::min(available, limit);
  slice.messages.reserve(count);
  for (auto entry = first; slice.messages.size() < count; ++entry)
    slice.messages.push_back(&entry->message);
  return slice;
}

void RoomHistory::expire(TimePoint now) {
  // Oldest first across rooms; a clock that stepped back can leave an older message behind a
  // younger one for a while, which the room's own lazy expiry then catches.
  while (!by_age_.empty()) {
    Node& node = *by_age_.begin()->second;
    if (!expired(node.second.entries.front(), now)) return;
    evict_oldest(node);
  }
}

bool RoomHistory::expired(const Entry& entry, TimePoint now) const {
  return now - entry.message.at >= limits_.max_age;
}

void RoomHistory::evict_oldest(Node& node) {
  Log& log = node.second;
  Entry& oldest = log.entries.front();
  by_age_.erase(oldest.stamp);
  log.floor = std::max(log.floor, oldest.message.seq);
  bytes_ -= cost(oldest.message);
  --messages_;
  log.entries.pop_front();
  if (log.entries.empty()) {
    dropped_high_ = std::max(dropped_high_, log.floor);
    bytes_ -= kRoomOverhead + node.first.size();
    logs_.erase(logs_.find(node.first));
    return;
  }
  by_age_.emplace(log.entries.front().stamp, &node);
}

void RoomHistory::expire_room(Node& node, TimePoint now) {
  // The record is gone once its last entry is: stop there.
  for (std::size_t left = node.second.entries.size(); left > 0; --left) {
    if (!expired(node.second.entries.front(), now)) return;
    evict_oldest(node);
  }
}

void RoomHistory::drop_room(Node& node) {
  for (std::size_t left = node.second.entries.size(); left > 0; --left)
    evict_oldest(node);
}

void RoomHistory::fit_budget() {
  while (bytes_ > limits_.max_bytes && !by_age_.empty())
    evict_oldest(*by_age_.begin()->second);
}

std::uint64_t RoomHistory::unknown_floor() const {
  return std::max(run_base_, dropped_high_);
}

}  // namespace parley::server
