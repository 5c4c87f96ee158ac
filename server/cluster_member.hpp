// This node's place in the cluster (docs/cluster.md), made at start: connect to NATS, then
// check that this node may serve beside the others. Every node publishes what it serves in the
// KeyValue bucket `<name>_nodes` (key: its node name), refreshed while it runs and expiring
// kNodeTtl after it stops; at start a node is refused when
//   - another node there serves another identity key (clients pin one fingerprint), or
//   - another live process already serves under its node name.
// An entry whose process stopped refreshing it (a crash, or a restart within the TTL) is taken
// over after one refresh period without a refresh.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "event_log.hpp"
#include "nats_link.hpp"
#include "parley/config.hpp"

namespace parley::server {

// The cluster refused this node at start, or could not be reached and cluster.when_unreachable
// is "fail": parleyd exits with code 1 and this message.
class ClusterStartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::chrono::seconds kNodeRefresh{3};
inline constexpr std::chrono::seconds kNodeTtl{10};
// Longer than a refresh period: a live process has refreshed its entry by then.
inline constexpr std::chrono::seconds kNodeLivenessWait = kNodeRefresh + std::chrono::seconds(1);

// A node's entry in `<name>_nodes`, as JSON: {"fingerprint": ..., "process": ...}.
struct NodeEntry {
  std::string fingerprint;  // SHA256:... of the identity key the node serves
  std::string process;      // random per start: tells a restarted process from a live twin
  bool operator==(const NodeEntry&) const = default;
};
std::string encode_node_entry(const NodeEntry& entry);
std::optional<NodeEntry> decode_node_entry(std::string_view text);

// The refusal when any other node serves another fingerprint (the first by node name), or
// nullopt. Entries that did not decode are left out by the caller.
std::optional<std::string> fingerprint_conflict(std::string_view node, std::string_view fingerprint,
                                                const std::map<std::string, NodeEntry>& others);

class ClusterMember {
 public:
  // Connects and checks. NATS unreachable: with when_unreachable "single", logs
  // `cluster_unavailable` and returns null (the node runs alone); with "fail", throws
  // ClusterStartError naming the servers. A refusal throws ClusterStartError. Logs
  // `cluster_joined` on success. `process` is this start's random id (hex).
  static boost::asio::awaitable<std::unique_ptr<ClusterMember>> join(
      boost::asio::any_io_executor loop, config::Cluster cluster, std::string fingerprint,
      std::string process, EventLog& log, NatsTimeouts timeouts = {});

  // Stops refreshing and closes the link (blocking for at most libnats's 500 ms flush); must
  // run before the loop's io_context is destroyed.
  ~ClusterMember();
  ClusterMember(const ClusterMember&) = delete;
  ClusterMember& operator=(const ClusterMember&) = delete;

  NatsLink& link() { return *link_; }
  const config::Cluster& cluster() const { return cluster_; }
  // This start's random id (hex), as published in its node entry.
  std::string process() const;
  // Keeps this node's entry alive (every kNodeRefresh) until destruction.
  void start_refresh();

  struct Refresh;  // shared with the refresh coroutine (cluster_member.cpp)

 private:
  ClusterMember(boost::asio::any_io_executor loop, std::unique_ptr<NatsLink> link,
                config::Cluster cluster, std::string entry);

  boost::asio::any_io_executor loop_;
  std::unique_ptr<NatsLink> link_;
  config::Cluster cluster_;
  std::string entry_;  // this node's encoded NodeEntry
  std::shared_ptr<Refresh> refresh_;
};

// The bucket of node entries for a cluster name.
std::string nodes_bucket(const config::Cluster& cluster);

}  // namespace parley::server
