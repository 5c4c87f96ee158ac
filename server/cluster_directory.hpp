// The cluster's directory of sessions (docs/cluster.md): the hub's Directory. Every session of
// this node has one entry in the KeyValue bucket `<name>_nicks`, under its nick's key: a nick is
// claimed with create-if-absent (or by overwriting a tombstone), so two nodes can never both give
// it out. Entries are rewritten on every join and part, refreshed every kDirectoryRefresh and
// expire kDirectoryTtl after their node stopped writing them: a crashed node's nicks come free
// within that bound. Every node reads the bucket in order (on_entry) into its RemoteSessions,
// whose changes the hub announces; direct messages to remote sessions go to their node's subject.
//
// One coroutine writes this node's entries, one operation at a time: claims and tombstones in
// the order they were asked for (a nick's tombstone after the new nick's entry, a ghost's
// tombstone before the takeover's claim), ahead of the writes that keep entries fresh. The bucket
// is reached through DirectoryStore: the NATS link implements it, unit tests use a model.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>

#include "hub.hpp"
#include "remote_sessions.hpp"

namespace parley::server {

inline constexpr std::chrono::seconds kDirectoryRefresh{5};
inline constexpr std::chrono::seconds kDirectoryTtl{15};

class DirectoryStore {
 public:
  struct Entry {
    std::string value;
    std::uint64_t revision = 0;
  };
  virtual ~DirectoryStore() = default;
  // Each throws on a failure to reach the store.
  // Writes only if the key holds nothing: false when it does.
  virtual boost::asio::awaitable<bool> create(std::string key, std::string value) = 0;
  // Writes only if the key's last revision is `revision`: false when another write came first.
  virtual boost::asio::awaitable<bool> update(std::string key, std::string value,
                                              std::uint64_t revision) = 0;
  virtual boost::asio::awaitable<void> put(std::string key, std::string value) = 0;
  virtual boost::asio::awaitable<std::optional<Entry>> get(std::string key) = 0;
  // At most once, buffered: a direct message to another node.
  virtual void send(std::string node, std::string payload) = 0;
};

struct DirectoryStats {
  std::uint64_t claims = 0;          // nicks claimed in the bucket
  std::uint64_t claims_refused = 0;  // held by another node's session
  std::uint64_t write_failures = 0;  // the store could not be reached
  std::uint64_t directs_sent = 0;
  std::uint64_t directs_received = 0;
};

class ClusterDirectory final : public Directory {
 public:
  ClusterDirectory(boost::asio::any_io_executor loop, DirectoryStore& store, Hub& hub,
                   std::string node, std::string process,
                   std::function<std::chrono::steady_clock::time_point()> clock);

  // Directory
  bool available() const override { return available_; }
  const RemoteSessions& remote() const override { return remote_; }
  void changed(SessionId id) override;
  void ended(SessionId id, std::string_view nick, std::string_view reason) override;
  void claim(SessionId id, const RequestId& request, std::string nick) override;
  void send_direct(const RemoteSession& to, std::string_view event_json) override;

  // One entry of the bucket, in the bucket's order (undecodable ones are skipped).
  void on_entry(std::string_view value);
  // A direct message published to this node.
  void on_direct(std::string_view payload);
  // Every kDirectoryRefresh: this node's entries are written again, so they do not expire.
  void refresh();
  // Often (every second): remote sessions whose node stopped refreshing them are gone.
  void expire();
  void set_available(bool available) { available_ = available; }

  const DirectoryStats& stats() const { return stats_; }
  std::size_t queued() const { return urgent_.size() + writes_.size(); }

 private:
  struct Write {
    SessionId id;
  };
  struct Claim {
    SessionId id;
    RequestId request;
    std::string nick;
  };
  struct Tombstone {
    std::string key;
    DirectoryEntry entry;
  };
  using Op = std::variant<Write, Claim, Tombstone>;

  void enqueue(Op op);
  boost::asio::awaitable<void> pump();
  boost::asio::awaitable<void> run(Write op);
  boost::asio::awaitable<void> run(Claim op);
  // Claims `key` for `entry`: created, or written over a tombstone or a stale entry of this
  // node's name; false when another live session holds it.
  boost::asio::awaitable<bool> take(const std::string& key, const DirectoryEntry& entry);
  DirectoryEntry tombstone(const DirectoryEntry& entry, std::string_view reason) const;
  void stamp(DirectoryEntry& entry) const;

  boost::asio::any_io_executor loop_;
  DirectoryStore& store_;
  Hub& hub_;
  std::string node_;
  std::string process_;
  std::function<std::chrono::steady_clock::time_point()> clock_;
  RemoteSessions remote_;
  // What waits to be written: claims and tombstones in order, then refreshing writes in order
  // (a session's Write is queued once at a time).
  std::deque<Op> urgent_;
  std::deque<Op> writes_;
  std::set<SessionId> writes_queued_;
  bool pumping_ = false;
  // This node's sessions, and the key each holds in the bucket (once claimed).
  std::set<SessionId> sessions_;
  struct Held {
    std::string key;
    std::string nick;
  };
  std::unordered_map<SessionId, Held> held_;
  bool available_ = true;
  DirectoryStats stats_;
};

}  // namespace parley::server
