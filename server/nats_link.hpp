// The cluster's one seam to NATS (docs/cluster.md): a libnats connection in its normal threaded
// mode, with everything that comes back handed to the event loop. libnats runs its callbacks on
// its own threads; here they only copy what they got and post it to the loop. Calls that block
// (connect, JetStream requests, KeyValue) run on one pool thread the link owns (publishes on a
// few threads of their own), and the awaiting coroutine resumes on the loop. The loop thread never
// calls a libnats function that waits for the network, except natsConnection_Publish, which only
// buffers (bounded by a write deadline).
//
// While libnats reconnects, requests (everything awaitable) fail at once with ClusterError;
// core publishes wait in libnats's reconnect buffer (8 MiB) and go out on reconnection.
//
// Subjects, streams and buckets are plain strings here: what they mean to Parley lives above.
// A link exists only when the configuration has a `cluster` block; without one no libnats code
// runs and no thread is started.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "parley/config.hpp"

// libnats's handles, kept out of this header.
struct __natsConnection;
struct __natsOptions;
struct __natsSubscription;
struct __jsCtx;
struct __kvStore;

namespace parley::server {

// Anything NATS refused or could not do; the message names what and why.
class ClusterError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A JetStream publish with an expected last subject sequence that was not the subject's last
// sequence (JetStream error 10071): somebody else published on the subject first.
class WrongLastSequence : public ClusterError {
 public:
  using ClusterError::ClusterError;
};

struct NatsTimeouts {
  std::chrono::milliseconds connect{2000};  // per server URL tried, by libnats
  std::chrono::milliseconds request{5000};  // each JetStream or KeyValue request
  std::chrono::milliseconds reconnect_wait{1000};
  std::chrono::milliseconds write_deadline{2000};  // a socket write libnats makes inline
};

// Threads that wait for JetStream publish acks: this many publishes (in different rooms) are
// in flight at once.
inline constexpr std::size_t kPublishThreads = 4;

// How many messages libnats's threads may have posted to the loop that it has not handled yet;
// past that a delivery thread waits, and libnats's own per-subscription limits take over.
inline constexpr std::size_t kMaxLoopBacklog = 65536;

// A server URL as it may be shown (logs, errors): a user:password@ part becomes ***@.
std::string redacted_url(const std::string& url);

enum class LinkState { disconnected, reconnected, closed };
std::string_view name_of(LinkState state);

struct StreamMessage {
  std::string subject;
  std::string data;
  std::uint64_t stream_seq = 0;
  bool operator==(const StreamMessage&) const = default;
};

struct KvEntry {
  std::string value;
  std::uint64_t revision = 0;
  bool operator==(const KvEntry&) const = default;
};

struct StreamConfig {
  std::string name;
  std::vector<std::string> subjects;
  std::optional<std::chrono::seconds> max_age = std::nullopt;  // absent: no age limit
  std::optional<std::int64_t> max_msgs_per_subject = std::nullopt;
};

struct KvBucketConfig {
  std::string bucket;
  std::chrono::milliseconds ttl{0};  // every entry's lifetime (per bucket, at least 100 ms)
};

class NatsLink {
 public:
  using SubscriptionId = std::uint64_t;
  using MessageHandler = std::function<void(std::string subject, std::string data)>;
  using StreamHandler = std::function<void(StreamMessage message)>;
  using StateHandler = std::function<void(LinkState state)>;

  // Connects to cluster.servers (bounded: timeouts.connect per server) with its credentials.
  // Throws ClusterError("cannot reach NATS at URL, ...: reason"). Resumes on `loop`, which must
  // be the executor of the calling coroutine; the link must be destroyed before the loop's
  // io_context.
  static boost::asio::awaitable<std::unique_ptr<NatsLink>> connect(
      boost::asio::any_io_executor loop, config::Cluster cluster, NatsTimeouts timeouts = {});

  // Closes as close() would, but blocking the caller: prefer co_await close().
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  // Disconnected, reconnected and closed, on the loop, in the order libnats saw them, to every
  // handler added, in the order they were added.
  void on_state(StateHandler handler);
  // The server this link is connected to now ("nats://127.0.0.1:4222"), or "" between servers.
  std::string connected_url() const;

  // Core NATS: at most once, no history. The handler runs on the loop.
  SubscriptionId subscribe(const std::string& subject, MessageHandler handler);
  // Buffered (libnats's reconnect buffer while disconnected); a failure is counted, not thrown.
  void publish(const std::string& subject, const std::string& data);
  std::uint64_t publish_failures() const { return publish_failures_; }
  // Stops a subscription of either kind; its handler is not called again.
  void unsubscribe(SubscriptionId id);

  // Creates the stream if absent; an existing stream of that name is used as it is.
  boost::asio::awaitable<void> ensure_stream(StreamConfig config);
  // Publishes and waits for JetStream's ack; returns the message's stream sequence. With
  // `expect_last_subject_seq` (0: the subject must have no message yet) a different last
  // sequence throws WrongLastSequence; any other failure throws ClusterError.
  boost::asio::awaitable<std::uint64_t> js_publish(
      std::string subject, std::string data,
      std::optional<std::uint64_t> expect_last_subject_seq = std::nullopt);
  // The stream's last message on `subject`, if any.
  boost::asio::awaitable<std::optional<StreamMessage>> js_last_message(std::string stream,
                                                                       std::string subject);
  // An ordered consumer on `stream`, filtered to `subjects` (wildcards allowed): messages reach
  // the handler on the loop in stream order, each once, from `from_seq` or (nullopt) from the
  // first message published after the subscription. libnats re-creates the consumer where it
  // left off after a reconnect.
  boost::asio::awaitable<SubscriptionId> js_subscribe(std::string stream, std::string subjects,
                                                      std::optional<std::uint64_t> from_seq,
                                                      StreamHandler handler);

  // Binds the bucket, creating it (history 1, the TTL) if absent.
  boost::asio::awaitable<void> ensure_kv_bucket(KvBucketConfig config);
  // The kv_* calls need ensure_kv_bucket first (else ClusterError).
  // Create-if-absent: false when the key holds a value already.
  boost::asio::awaitable<bool> kv_create(std::string bucket, std::string key, std::string value);
  // Returns the new revision.
  boost::asio::awaitable<std::uint64_t> kv_put(std::string bucket, std::string key,
                                               std::string value);
  // Writes only when the key's last revision is `last_revision`: false when another write came
  // first.
  boost::asio::awaitable<bool> kv_update(std::string bucket, std::string key, std::string value,
                                         std::uint64_t last_revision);
  boost::asio::awaitable<std::optional<KvEntry>> kv_get(std::string bucket, std::string key);
  boost::asio::awaitable<void> kv_delete(std::string bucket, std::string key);
  boost::asio::awaitable<std::vector<std::string>> kv_keys(std::string bucket);

  // Stops every subscription, flushes what is buffered (libnats waits up to 500 ms for that, on
  // the pool thread) and closes. Operations still waiting end with ClusterError; handlers are
  // not called any more. Later operations throw ClusterError.
  boost::asio::awaitable<void> close();

  struct Shared;  // what libnats's threads may touch (nats_link.cpp)

 private:
  explicit NatsLink(boost::asio::any_io_executor loop);
  void check_open() const;
  __kvStore* bucket(const std::string& name) const;
  // Stops handlers and wakes delivery threads waiting on the backlog; idempotent.
  void begin_close();
  // After natsConnection_Close: joins the pool and destroys libnats's objects, on the loop.
  void finish_close();

  std::shared_ptr<Shared> shared_;
  boost::asio::thread_pool pool_{1};
  // JetStream publishes (room messages) wait for their ack on threads of their own, so rooms do
  // not queue behind each other's round trips or behind KeyValue work (docs/cluster.md).
  boost::asio::thread_pool publish_pool_{kPublishThreads};
  __natsOptions* options_ = nullptr;
  __natsConnection* connection_ = nullptr;
  __jsCtx* js_ = nullptr;
  std::map<std::string, __kvStore*> buckets_;
  std::map<SubscriptionId, __natsSubscription*> subscriptions_;
  std::map<SubscriptionId, bool> is_js_;  // JetStream subscriptions unsubscribe on the pool
  SubscriptionId next_id_ = 0;
  std::uint64_t publish_failures_ = 0;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace parley::server
