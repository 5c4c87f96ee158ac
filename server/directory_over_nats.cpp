#include "directory_over_nats.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace parley::server {

namespace asio = boost::asio;

namespace {

// How often remote entries are checked for expiry; refreshes come every few of these.
constexpr std::chrono::seconds kTick{1};
constexpr auto kTicksPerRefresh = kDirectoryRefresh / kTick;

}  // namespace

// The timers' state: it outlives the node if the coroutine is still suspended when the node
// goes, and `stopped` tells the coroutine not to touch it any more.
struct DirectoryOverNats::Ticker {
  explicit Ticker(asio::any_io_executor loop) : timer(std::move(loop)) {}
  asio::steady_timer timer;
  bool stopped = false;
};

namespace {

asio::awaitable<void> tick(std::shared_ptr<DirectoryOverNats::Ticker> state,
                           ClusterDirectory& directory) {
  for (std::int64_t n = 1; !state->stopped; ++n) {
    state->timer.expires_after(kTick);
    co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (state->stopped) co_return;
    directory.expire();
    if (n % kTicksPerRefresh == 0) directory.refresh();
  }
}

}  // namespace

std::string nicks_bucket(const config::Cluster& cluster) {
  return cluster.name + "_nicks";
}

asio::awaitable<bool> NatsDirectoryStore::create(std::string key, std::string value) {
  auto op = link_.kv_create(bucket_, std::move(key), std::move(value));
  co_return co_await std::move(op);
}

asio::awaitable<bool> NatsDirectoryStore::update(std::string key, std::string value,
                                                 std::uint64_t revision) {
  auto op = link_.kv_update(bucket_, std::move(key), std::move(value), revision);
  co_return co_await std::move(op);
}

asio::awaitable<void> NatsDirectoryStore::put(std::string key, std::string value) {
  auto op = link_.kv_put(bucket_, std::move(key), std::move(value));
  co_await std::move(op);
}

asio::awaitable<std::optional<DirectoryStore::Entry>> NatsDirectoryStore::get(std::string key) {
  auto op = link_.kv_get(bucket_, std::move(key));
  const auto entry = co_await std::move(op);
  if (!entry) co_return std::nullopt;
  co_return Entry{entry->value, entry->revision};
}

void NatsDirectoryStore::send(std::string node, std::string payload) {
  link_.publish(direct_subject(prefix_, node), payload);
}

DirectoryOverNats::DirectoryOverNats(asio::any_io_executor loop, ClusterMember& member, Hub& hub)
    : hub_(hub),
      store_(member.link(), nicks_bucket(member.cluster()), member.cluster().name),
      directory_(loop, store_, hub, member.cluster().node, member.process(),
                 [] { return std::chrono::steady_clock::now(); }),
      ticker_(std::make_shared<Ticker>(loop)) {}

DirectoryOverNats::~DirectoryOverNats() {
  ticker_->stopped = true;
  ticker_->timer.cancel();
  hub_.set_directory(nullptr);
}

asio::awaitable<std::unique_ptr<DirectoryOverNats>> DirectoryOverNats::start(ClusterMember& member,
                                                                             Hub& hub) {
  const auto loop = co_await asio::this_coro::executor;
  std::unique_ptr<DirectoryOverNats> node(new DirectoryOverNats(loop, member, hub));
  const config::Cluster& cluster = member.cluster();
  const std::string bucket = nicks_bucket(cluster);
  KvBucketConfig config;
  config.bucket = bucket;
  config.ttl = kDirectoryTtl;
  auto ensure = member.link().ensure_kv_bucket(std::move(config));
  co_await std::move(ensure);

  const std::weak_ptr<DirectoryOverNats*> self = node->self_;
  // The bucket is a stream (KV_<bucket>) keeping each key's last write: read from its start, it
  // is every live entry, then every write as it happens.
  auto subscribe = member.link().js_subscribe("KV_" + bucket, "$KV." + bucket + ".>",
                                              std::uint64_t{1}, [self](StreamMessage message) {
                                                if (const auto alive = self.lock())
                                                  (*alive)->directory_.on_entry(message.data);
                                              });
  co_await std::move(subscribe);
  member.link().subscribe(direct_subject(cluster.name, cluster.node),
                          [self](std::string, std::string data) {
                            if (const auto alive = self.lock())
                              (*alive)->directory_.on_direct(data);
                          });
  member.link().on_state([self](LinkState state) {
    if (const auto alive = self.lock())
      (*alive)->directory_.set_available(state == LinkState::reconnected);
  });
  hub.set_directory(&node->directory_);
  co_return node;
}

void DirectoryOverNats::start_timers(asio::any_io_executor loop) {
  if (ticking_) return;
  ticking_ = true;
  asio::co_spawn(loop, tick(ticker_, directory_), asio::detached);
}

}  // namespace parley::server
