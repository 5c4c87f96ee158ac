#include "cluster_member.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>

#include <utility>

namespace parley::server {

namespace asio = boost::asio;
using asio::awaitable;

// The refresh coroutine's state: it outlives the member if the coroutine is still suspended
// when the member goes, and `stopped` tells the coroutine not to touch the link any more.
struct ClusterMember::Refresh {
  explicit Refresh(asio::any_io_executor loop) : timer(std::move(loop)) {}
  asio::steady_timer timer;
  bool stopped = false;
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::vector<std::string> shown_servers(const config::Cluster& cluster) {
  std::vector<std::string> out;
  for (const auto& s : cluster.servers)
    out.push_back(redacted_url(s));
  return out;
}

awaitable<void> refresh_loop(std::shared_ptr<ClusterMember::Refresh> state, NatsLink* link,
                             std::string bucket, std::string node, std::string entry) {
  while (!state->stopped) {
    state->timer.expires_after(kNodeRefresh);
    co_await state->timer.async_wait(use_tuple);
    if (state->stopped) co_return;
    try {
      co_await link->kv_put(bucket, node, entry);
    } catch (const ClusterError&) {
      // NATS is away: the entry may expire meanwhile, and the next refresh after NATS returns
      // writes it again. Degraded operation is the layer above's to report.
    }
  }
}

awaitable<void> pause(asio::any_io_executor loop, std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(loop, d);
  co_await timer.async_wait(use_tuple);
}

}  // namespace

std::string nodes_bucket(const config::Cluster& cluster) {
  return cluster.name + "_nodes";
}

std::string encode_node_entry(const NodeEntry& entry) {
  nlohmann::ordered_json j;
  j["fingerprint"] = entry.fingerprint;
  j["process"] = entry.process;
  return j.dump();
}

std::optional<NodeEntry> decode_node_entry(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto fingerprint = j.find("fingerprint");
  const auto process = j.find("process");
  if (fingerprint == j.end() || !fingerprint->is_string() || process == j.end() ||
      !process->is_string())
    return std::nullopt;
  NodeEntry entry;
  entry.fingerprint = fingerprint->get<std::string>();
  entry.process = process->get<std::string>();
  return entry;
}

std::optional<std::string> fingerprint_conflict(std::string_view node, std::string_view fingerprint,
                                                const std::map<std::string, NodeEntry>& others) {
  for (const auto& [other, entry] : others) {
    if (other == node || entry.fingerprint == fingerprint) continue;
    return "node " + other + " serves fingerprint " + entry.fingerprint + ", this node (" +
           std::string(node) + ") serves " + std::string(fingerprint) +
           ": every node must serve the same identity key (docs/cluster.md)";
  }
  return std::nullopt;
}

ClusterMember::ClusterMember(asio::any_io_executor loop, std::unique_ptr<NatsLink> link,
                             config::Cluster cluster, std::string entry)
    : loop_(std::move(loop)),
      link_(std::move(link)),
      cluster_(std::move(cluster)),
      entry_(std::move(entry)) {}

ClusterMember::~ClusterMember() {
  if (refresh_) {
    refresh_->stopped = true;
    refresh_->timer.cancel();
  }
}

std::string ClusterMember::process() const {
  const auto entry = decode_node_entry(entry_);
  return entry ? entry->process : std::string();
}

void ClusterMember::start_refresh() {
  if (refresh_) return;
  refresh_ = std::make_shared<Refresh>(loop_);
  asio::co_spawn(loop_,
                 refresh_loop(refresh_, link_.get(), nodes_bucket(cluster_), cluster_.node, entry_),
                 asio::detached);
}

awaitable<std::unique_ptr<ClusterMember>> ClusterMember::join(asio::any_io_executor loop,
                                                              config::Cluster cluster,
                                                              std::string fingerprint,
                                                              std::string process, EventLog& log,
                                                              NatsTimeouts timeouts) {
  std::unique_ptr<NatsLink> link;
  try {
    link = co_await NatsLink::connect(loop, cluster, timeouts);
  } catch (const ClusterError& e) {
    if (cluster.when_unreachable == config::WhenUnreachable::single) {
      log.cluster_unavailable(shown_servers(cluster), e.what());
      co_return nullptr;
    }
    throw ClusterStartError(std::string(e.what()) +
                            " (cluster.when_unreachable is \"fail\"; \"single\" would start "
                            "this node alone)");
  }
  const std::string bucket = nodes_bucket(cluster);
  const std::string& node = cluster.node;
  NodeEntry mine;
  mine.fingerprint = fingerprint;
  mine.process = process;
  const std::string entry = encode_node_entry(mine);
  bool took_over = false;
  std::size_t nodes = 1;
  try {
    KvBucketConfig nodes_config;
    nodes_config.bucket = bucket;
    nodes_config.ttl = kNodeTtl;
    co_await link->ensure_kv_bucket(nodes_config);

    // Our name first: a live process refreshes its entry within a refresh period.
    if (auto existing = co_await link->kv_get(bucket, node)) {
      co_await pause(loop, kNodeLivenessWait);
      const auto again = co_await link->kv_get(bucket, node);
      if (again && again->revision != existing->revision)
        throw ClusterStartError("node " + node +
                                " is already in the cluster, served by another running parleyd: "
                                "give each parleyd its own cluster.node (docs/cluster.md)");
      took_over = true;
      co_await link->kv_put(bucket, node, entry);
    } else if (!co_await link->kv_create(bucket, node, entry)) {
      throw ClusterStartError("node " + node +
                              " joined the cluster just now from another parleyd: give each "
                              "parleyd its own cluster.node (docs/cluster.md)");
    }

    // Then everyone else, after our entry is there: of two nodes starting at once with
    // different keys, each sees the other.
    std::map<std::string, NodeEntry> others;
    for (const auto& key : co_await link->kv_keys(bucket)) {
      if (key == node) continue;
      const auto value = co_await link->kv_get(bucket, key);
      if (!value) continue;  // expired meanwhile
      if (auto decoded = decode_node_entry(value->value)) others.emplace(key, std::move(*decoded));
    }
    nodes += others.size();
    if (auto conflict = fingerprint_conflict(node, fingerprint, others)) {
      // Not left behind: a stale entry with the wrong key would refuse good nodes for a TTL.
      try {
        co_await link->kv_delete(bucket, node);
      } catch (const ClusterError&) {
      }
      throw ClusterStartError(*conflict);
    }
  } catch (const ClusterError& e) {
    throw ClusterStartError("cluster check failed: " + std::string(e.what()));
  }
  log.cluster_joined(node, shown_servers(cluster), link->connected_url(), nodes, took_over);
  co_return std::unique_ptr<ClusterMember>(
      new ClusterMember(std::move(loop), std::move(link), std::move(cluster), entry));
}

}  // namespace parley::server
