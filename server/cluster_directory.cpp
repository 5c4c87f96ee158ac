#include "cluster_directory.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "parley/names.hpp"

namespace parley::server {

namespace asio = boost::asio;

ClusterDirectory::ClusterDirectory(asio::any_io_executor loop, DirectoryStore& store, Hub& hub,
                                   std::string node, std::string process,
                                   std::function<std::chrono::steady_clock::time_point()> clock)
    : loop_(std::move(loop)),
      store_(store),
      hub_(hub),
      node_(std::move(node)),
      process_(std::move(process)),
      clock_(std::move(clock)),
      remote_(node_) {}

void ClusterDirectory::changed(SessionId id) {
  sessions_.insert(id);
  if (writes_queued_.insert(id).second) enqueue(Write{id});
}

void ClusterDirectory::ended(SessionId id, std::string_view nick, std::string_view reason) {
  sessions_.erase(id);
  const auto held = held_.find(id);
  // Not claimed yet: the claim in flight finds the session gone and frees what it got.
  if (held == held_.end()) return;
  DirectoryEntry entry;
  entry.session = id;
  entry.nick = std::string(nick);
  enqueue(Tombstone{held->second.key, tombstone(entry, reason)});
  held_.erase(held);
}

void ClusterDirectory::claim(SessionId id, const RequestId& request, std::string nick) {
  enqueue(Claim{id, request, std::move(nick)});
}

void ClusterDirectory::send_direct(const RemoteSession& to, std::string_view event_json) {
  RemoteDirect direct;
  direct.process = to.process;
  direct.session = to.session;
  direct.to = to.nick;
  direct.event = std::string(event_json);
  store_.send(to.node, encode(direct));
  ++stats_.directs_sent;
}

void ClusterDirectory::on_entry(std::string_view value) {
  const auto entry = decode_directory_entry(value);
  if (!entry) return;
  hub_.apply_presence(remote_.apply(*entry, clock_()));
}

void ClusterDirectory::on_direct(std::string_view payload) {
  const auto direct = decode_remote_direct(payload);
  // Meant for an earlier process of this node's name: its sessions are gone.
  if (!direct || direct->process != process_) return;
  if (hub_.deliver_direct(direct->session, direct->to, direct->event)) ++stats_.directs_received;
}

void ClusterDirectory::refresh() {
  for (SessionId id : sessions_)
    if (writes_queued_.insert(id).second) enqueue(Write{id});
}

void ClusterDirectory::expire() {
  hub_.apply_presence(remote_.expire(clock_(), kDirectoryTtl));
}

void ClusterDirectory::enqueue(Op op) {
  // Claims and tombstones are what people wait for (a nick change, a nick coming free): they go
  // before the writes that only keep entries fresh. Their own order is kept, and a write reads
  // the session as it is when it runs, so it never undoes either.
  (std::holds_alternative<Write>(op) ? writes_ : urgent_).push_back(std::move(op));
  if (pumping_) return;
  pumping_ = true;
  asio::co_spawn(loop_, pump(), asio::detached);
}

asio::awaitable<void> ClusterDirectory::pump() {
  while (!urgent_.empty() || !writes_.empty()) {
    auto& queue = urgent_.empty() ? writes_ : urgent_;
    Op op = std::move(queue.front());
    queue.pop_front();
    try {
      if (auto* write = std::get_if<Write>(&op)) {
        writes_queued_.erase(write->id);
        auto step = run(*write);
        co_await std::move(step);
      } else if (auto* claim = std::get_if<Claim>(&op)) {
        auto step = run(std::move(*claim));
        co_await std::move(step);
      } else {
        auto& dead = std::get<Tombstone>(op);
        auto step = store_.put(dead.key, encode(dead.entry));
        co_await std::move(step);
      }
    } catch (const std::exception&) {
      // Unreachable store: a write is made again by the next refresh, a tombstone's key expires
      // with the bucket's TTL; a claim was answered `unavailable` by run().
      ++stats_.write_failures;
    }
  }
  pumping_ = false;
}

asio::awaitable<void> ClusterDirectory::run(Write op) {
  auto entry = hub_.entry_of(op.id);
  if (!entry) co_return;  // ended meanwhile: ended() queued its tombstone
  stamp(*entry);
  const std::string key = nick_key(fold_name(entry->nick));
  const auto held = held_.find(op.id);
  if (held != held_.end() && held->second.key == key) {
    auto put = store_.put(key, encode(*entry));
    co_await std::move(put);
    co_return;
  }
  // A nick this node gave out itself (at attach, or after a lost claim): claimed now.
  auto taking = take(key, *entry);
  const bool taken = co_await std::move(taking);
  if (!taken) {
    ++stats_.claims_refused;
    hub_.claim_lost(op.id);  // renames it, which queues this session's write again
    co_return;
  }
  ++stats_.claims;
  if (!hub_.entry_of(op.id)) {
    // Ended while we claimed: free what it got.
    auto put = store_.put(key, encode(tombstone(*entry, "quit")));
    co_await std::move(put);
    co_return;
  }
  held_[op.id] = Held{key, entry->nick};
}

asio::awaitable<void> ClusterDirectory::run(Claim op) {
  auto entry = hub_.entry_of(op.id);
  if (!entry) {
    hub_.nick_claimed(op.id, op.request, op.nick, ErrorCode::unavailable, "session ended");
    co_return;
  }
  stamp(*entry);
  entry->nick = op.nick;
  const std::string key = nick_key(fold_name(op.nick));
  bool taken = false;
  try {
    auto taking = take(key, *entry);
    taken = co_await std::move(taking);
  } catch (const std::exception&) {
    hub_.nick_claimed(op.id, op.request, op.nick, ErrorCode::unavailable,
                      "cut off from the cluster: try again later");
    throw;
  }
  if (!taken) {
    ++stats_.claims_refused;
    hub_.nick_claimed(op.id, op.request, op.nick, ErrorCode::nick_taken, "nick taken");
    co_return;
  }
  ++stats_.claims;
  // Set before nick_claimed, whose rename queues this session's write: it finds the new key.
  const auto old = held_.find(op.id);
  const std::optional<Held> previous =
      old != held_.end() ? std::optional<Held>(old->second) : std::nullopt;
  held_[op.id] = Held{key, op.nick};
  if (!hub_.nick_claimed(op.id, op.request, op.nick, std::nullopt)) {
    // Ended meanwhile (its tombstone went to the old key): the new one is freed too.
    held_.erase(op.id);
    auto put = store_.put(key, encode(tombstone(*entry, "quit")));
    co_await std::move(put);
    co_return;
  }
  // The new key first, then the old one's tombstone: a reader sees the session move, never
  // vanish (RemoteSessions ignores a tombstone for a nick its session no longer holds).
  if (previous && previous->key != key) {
    DirectoryEntry old_entry;
    old_entry.session = op.id;
    old_entry.nick = previous->nick;
    enqueue(Tombstone{previous->key, tombstone(old_entry, "nick")});
  }
}

asio::awaitable<bool> ClusterDirectory::take(const std::string& key, const DirectoryEntry& entry) {
  const std::string value = encode(entry);
  auto create = store_.create(key, value);
  const bool created = co_await std::move(create);  // named: no co_await in a condition (g++ 12)
  if (created) co_return true;
  auto read = store_.get(key);
  const auto current = co_await std::move(read);
  if (!current) {
    // Expired between the two: one more try, and the store decides.
    auto again = store_.create(key, value);
    co_return co_await std::move(again);
  }
  const auto holder = decode_directory_entry(current->value);
  const bool free = !holder || !holder->gone.empty() ||
                    // An earlier process of this node's name (it restarted within the TTL): gone.
                    (holder->node == node_ && holder->process != process_) ||
                    (holder->node == node_ && holder->session == entry.session);
  if (!free) co_return false;
  auto update = store_.update(key, value, current->revision);
  co_return co_await std::move(update);
}

DirectoryEntry ClusterDirectory::tombstone(const DirectoryEntry& entry,
                                           std::string_view reason) const {
  DirectoryEntry dead;
  dead.node = node_;
  dead.process = process_;
  dead.session = entry.session;
  dead.nick = entry.nick;
  // Never empty: an empty `gone` means alive.
  dead.gone = reason.empty() ? std::string("quit") : std::string(reason);
  return dead;
}

void ClusterDirectory::stamp(DirectoryEntry& entry) const {
  entry.node = node_;
  entry.process = process_;
}

}  // namespace parley::server
