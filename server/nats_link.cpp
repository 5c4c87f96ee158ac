#include "nats_link.hpp"

#include <nats/nats.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <climits>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <type_traits>
#include <utility>

namespace parley::server {

namespace asio = boost::asio;
using asio::awaitable;

// What libnats's threads share with the loop. They read `loop` (never changed) and, under the
// mutex, `detached` and the backlog count; everything else is the loop's alone.
struct NatsLink::Shared {
  explicit Shared(asio::any_io_executor executor) : loop(std::move(executor)) {}

  // From a libnats thread: hands `handler` to the loop, unless the link is closing. A counted
  // delivery (a message) first waits while kMaxLoopBacklog of them are queued, so a loop that
  // falls behind slows the delivery thread instead of growing the queue.
  template <class Handler>
  void deliver(Handler handler, bool counted) {
    std::unique_lock lock(mutex);
    if (counted) room.wait(lock, [this] { return detached || backlog < kMaxLoopBacklog; });
    if (detached) return;
    if (counted) ++backlog;
    asio::post(loop, std::move(handler));
  }
  // On the loop, once per counted delivery.
  void delivered() {
    {
      std::lock_guard lock(mutex);
      --backlog;
    }
    room.notify_one();
  }
  // On the loop, before the connection closes: libnats's threads post nothing from here on,
  // so none can reach an io_context that is gone.
  void detach() {
    {
      std::lock_guard lock(mutex);
      detached = true;
    }
    room.notify_all();
  }

  const asio::any_io_executor loop;
  std::mutex mutex;
  std::condition_variable room;
  std::size_t backlog = 0;
  bool detached = false;

  // The loop's alone.
  bool open = true;
  std::vector<StateHandler> on_state;
  std::map<SubscriptionId, MessageHandler> core_handlers;
  std::map<SubscriptionId, StreamHandler> stream_handlers;
};

namespace {

using Shared = NatsLink::Shared;

// The closure libnats holds for a subscription: freed by its completion callback, the last call
// libnats makes for it, so it outlives every message callback whatever the link does meanwhile.
struct SubscriptionHook {
  std::shared_ptr<Shared> shared;
  NatsLink::SubscriptionId id = 0;
};

// The closure for the connection's events: freed by the closed callback, its last event.
struct ConnectionHook {
  std::shared_ptr<Shared> shared;
};

// nats_GetLastError is per thread: call this on the thread whose call failed.
std::string error_text(natsStatus status) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0') return text;
  return natsStatus_GetText(status);
}

std::string with_code(std::string text, jsErrCode code) {
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return text;
}

[[noreturn]] void fail(const std::string& what, natsStatus status, jsErrCode code = jsErrCode{}) {
  throw ClusterError(what + ": " + with_code(error_text(status), code));
}

std::string server_list(const std::vector<std::string>& servers) {
  std::string out;
  for (const auto& s : servers)
    out += (out.empty() ? "" : ", ") + redacted_url(s);
  return out;
}

// A request made while libnats reconnects would wait in its reconnect buffer until its timeout
// (or be sent late): refused at once instead, so the layer above can answer `unavailable` now.
// One made just before a disconnect fails then (natsOptions_SetFailRequestsOnDisconnect).
void require_connected(natsConnection* nc) {
  const natsConnStatus status = natsConnection_Status(nc);
  if (status == NATS_CONN_STATUS_CONNECTED) return;
  throw ClusterError(status == NATS_CONN_STATUS_CLOSED ? "the NATS connection is closed"
                                                       : "NATS is unreachable, reconnecting");
}

int length_of(const std::string& data) {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) throw ClusterError("message too large");
  return static_cast<int>(data.size());
}

std::string data_of(natsMsg* msg) {
  const char* data = natsMsg_GetData(msg);
  const int length = natsMsg_GetDataLength(msg);
  return data == nullptr || length <= 0 ? std::string()
                                        : std::string(data, static_cast<std::size_t>(length));
}

// Runs `work` (a plain function, never a coroutine: the g++ 12 pitfall) on the pool and
// resumes the awaiting coroutine on its own executor, the loop. Not a coroutine itself, and
// callers pass a named lambda: g++ 12 destroys class temporaries in a co_await expression twice
// (the PR100611 family), which a lambda with captures built inside the co_await was. The loop's
// io_context counts the work as outstanding meanwhile, so io_context::run does not return under it.
template <class T, class Work>
auto on_pool(asio::thread_pool& pool, Work&& work) {
  using Job = std::decay_t<Work>;
  auto initiate = [pool = &pool](auto handler, Job job) {
    auto loop = asio::prefer(asio::get_associated_executor(handler),
                             asio::execution::outstanding_work.tracked);
    asio::post(*pool, [handler = std::move(handler), job = std::move(job),
                       loop = std::move(loop)]() mutable {
      std::exception_ptr error;
      T result{};
      try {
        result = job();
      } catch (...) {
        error = std::current_exception();
      }
      asio::post(loop, [handler = std::move(handler), error, result = std::move(result)]() mutable {
        std::move(handler)(error, std::move(result));
      });
    });
  };
  return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, T)>(
      std::move(initiate), asio::use_awaitable, std::forward<Work>(work));
}

// libnats's callbacks, on its threads: copy, post, return.

void on_core_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  const auto* hook = static_cast<SubscriptionHook*>(closure);
  std::string subject = natsMsg_GetSubject(msg);
  std::string data = data_of(msg);
  natsMsg_Destroy(msg);
  hook->shared->deliver(
      [shared = hook->shared, id = hook->id, subject = std::move(subject),
       data = std::move(data)]() mutable {
        shared->delivered();
        if (!shared->open) return;
        auto it = shared->core_handlers.find(id);
        if (it == shared->core_handlers.end()) return;
        auto handler = it->second;  // a copy: the handler may unsubscribe itself
        handler(std::move(subject), std::move(data));
      },
      true);
}

void on_stream_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  const auto* hook = static_cast<SubscriptionHook*>(closure);
  StreamMessage m;
  m.subject = natsMsg_GetSubject(msg);
  m.data = data_of(msg);
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
    m.stream_seq = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
  }
  natsMsg_Destroy(msg);
  hook->shared->deliver(
      [shared = hook->shared, id = hook->id, m = std::move(m)]() mutable {
        shared->delivered();
        if (!shared->open) return;
        auto it = shared->stream_handlers.find(id);
        if (it == shared->stream_handlers.end()) return;
        auto handler = it->second;
        handler(std::move(m));
      },
      true);
}

void on_subscription_complete(void* closure) {
  delete static_cast<SubscriptionHook*>(closure);
}

void post_state(void* closure, LinkState state) {
  const auto* hook = static_cast<ConnectionHook*>(closure);
  hook->shared->deliver(
      [shared = hook->shared, state] {
        // A handler may not add handlers: the list is fixed once the node is set up.
        for (const auto& handler : shared->on_state)
          if (shared->open) handler(state);
      },
      false);
}

void on_disconnected(natsConnection*, void* closure) {
  post_state(closure, LinkState::disconnected);
}

void on_reconnected(natsConnection*, void* closure) {
  post_state(closure, LinkState::reconnected);
}

void on_closed(natsConnection*, void* closure) {
  post_state(closure, LinkState::closed);
  delete static_cast<ConnectionHook*>(closure);
}

struct Opened {
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;
};

natsStatus set_options(natsOptions* o, const config::Cluster& cluster, const NatsTimeouts& t,
                       ConnectionHook* hook) {
  std::vector<const char*> urls;
  for (const auto& s : cluster.servers)
    urls.push_back(s.c_str());
  const std::string name = "parleyd " + cluster.node;
  natsStatus s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(o, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, t.connect.count());
  // Once connected, keep trying for as long as it takes: the node rejoins when NATS returns.
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, t.reconnect_wait.count());
  if (s == NATS_OK) s = natsOptions_SetWriteDeadline(o, t.write_deadline.count());
  // A request waiting for an answer fails at once when the connection drops, instead of at its
  // timeout: the layer above answers `unavailable` sooner.
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, hook);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, on_reconnected, hook);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(o, on_closed, hook);
  if (s == NATS_OK && cluster.token) s = natsOptions_SetToken(o, cluster.token->c_str());
  if (s == NATS_OK && cluster.user && cluster.password)
    s = natsOptions_SetUserInfo(o, cluster.user->c_str(), cluster.password->c_str());
  if (s == NATS_OK && cluster.credentials)
    s = natsOptions_SetUserCredentialsFromFiles(o, cluster.credentials->c_str(), nullptr);
  return s;
}

// On the pool thread.
Opened open_connection(const config::Cluster& cluster, const NatsTimeouts& timeouts,
                       const std::shared_ptr<Shared>& shared) {
  Opened o;
  // libnats spins on its mutexes (2000 tries by default) before it sleeps: on a machine whose
  // cores the event loop, NATS and the clients share, that spinning took a sixth of parleyd's
  // CPU (perf, bench/cluster.sh). A lock that is taken sleeps at once instead. The first call
  // sets it for the process; later ones change nothing.
  natsStatus s = nats_Open(0);
  if (s == NATS_OK) s = natsOptions_Create(&o.options);
  if (s != NATS_OK) fail("cannot start the NATS client", s);
  auto* hook = new ConnectionHook{shared};
  s = set_options(o.options, cluster, timeouts, hook);
  if (s == NATS_OK) s = natsConnection_Connect(&o.connection, o.options);
  if (s != NATS_OK) {
    // No connection, so libnats never calls back with the hook.
    const std::string why = error_text(s);
    delete hook;
    natsOptions_Destroy(o.options);
    throw ClusterError("cannot reach NATS at " + server_list(cluster.servers) + ": " + why);
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeouts.request.count();
  s = natsConnection_JetStream(&o.js, o.connection, &jo);
  if (s != NATS_OK) {
    const std::string why = error_text(s);
    natsConnection_Close(o.connection);
    natsConnection_Destroy(o.connection);  // the closed callback frees the hook
    natsOptions_Destroy(o.options);
    throw ClusterError("cannot use JetStream at " + server_list(cluster.servers) + ": " + why);
  }
  return o;
}

}  // namespace

std::string redacted_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + "***@" + url.substr(at + 1);
}

std::string_view name_of(LinkState state) {
  switch (state) {
    case LinkState::disconnected:
      return "disconnected";
    case LinkState::reconnected:
      return "reconnected";
    case LinkState::closed:
      break;
  }
  return "closed";
}

NatsLink::NatsLink(asio::any_io_executor loop)
    : shared_(std::make_shared<Shared>(std::move(loop))) {}

awaitable<std::unique_ptr<NatsLink>> NatsLink::connect(asio::any_io_executor loop,
                                                       config::Cluster cluster,
                                                       NatsTimeouts timeouts) {
  std::unique_ptr<NatsLink> link(new NatsLink(std::move(loop)));
  auto work = [cluster = std::move(cluster), timeouts, shared = link->shared_] {
    return open_connection(cluster, timeouts, shared);
  };
  const Opened opened = co_await on_pool<Opened>(link->pool_, std::move(work));
  link->options_ = opened.options;
  link->connection_ = opened.connection;
  link->js_ = opened.js;
  co_return link;
}

NatsLink::~NatsLink() {
  if (!closing_) {
    begin_close();
    // The loop waits here (libnats flushes for up to 500 ms): co_await close() does not.
    if (connection_ != nullptr) natsConnection_Close(connection_);
  }
  finish_close();
}

void NatsLink::on_state(StateHandler handler) {
  shared_->on_state.push_back(std::move(handler));
}

std::string NatsLink::connected_url() const {
  if (connection_ == nullptr || closing_) return "";
  char url[512] = {};
  if (natsConnection_GetConnectedUrl(connection_, url, sizeof url) != NATS_OK) return "";
  return redacted_url(url);
}

void NatsLink::check_open() const {
  if (closing_ || connection_ == nullptr) throw ClusterError("the NATS link is closed");
}

__kvStore* NatsLink::bucket(const std::string& name) const {
  check_open();
  auto it = buckets_.find(name);
  if (it == buckets_.end())
    throw ClusterError("KeyValue bucket " + name + " is not open (ensure_kv_bucket first)");
  return it->second;
}

NatsLink::SubscriptionId NatsLink::subscribe(const std::string& subject, MessageHandler handler) {
  check_open();
  const SubscriptionId id = ++next_id_;
  auto* hook = new SubscriptionHook{shared_, id};
  natsSubscription* sub = nullptr;
  // Buffers a SUB line: no wait for the server.
  natsStatus s =
      natsConnection_Subscribe(&sub, connection_, subject.c_str(), on_core_message, hook);
  if (s != NATS_OK) {
    const std::string why = error_text(s);
    delete hook;
    throw ClusterError("cannot subscribe to " + subject + ": " + why);
  }
  s = natsSubscription_SetOnCompleteCB(sub, on_subscription_complete, hook);
  if (s != NATS_OK) {
    // The delivery thread may already hold the hook: it is left allocated rather than risked.
    const std::string why = error_text(s);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    throw ClusterError("cannot subscribe to " + subject + ": " + why);
  }
  shared_->core_handlers.emplace(id, std::move(handler));
  subscriptions_.emplace(id, sub);
  return id;
}

void NatsLink::publish(const std::string& subject, const std::string& data) {
  if (closing_ || connection_ == nullptr || data.size() > static_cast<std::size_t>(INT_MAX)) {
    ++publish_failures_;
    return;
  }
  const int length = static_cast<int>(data.size());
  if (natsConnection_Publish(connection_, subject.c_str(), data.data(), length) != NATS_OK)
    ++publish_failures_;
}

void NatsLink::unsubscribe(SubscriptionId id) {
  shared_->core_handlers.erase(id);
  shared_->stream_handlers.erase(id);
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  natsSubscription* sub = it->second;
  subscriptions_.erase(it);
  const bool js = is_js_.erase(id) != 0;
  if (closing_) {
    natsSubscription_Destroy(sub);
    return;
  }
  if (js) {
    // Deleting a JetStream consumer is a request to the server: not on the loop.
    asio::post(pool_, [sub] {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    });
    return;
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
}

awaitable<void> NatsLink::ensure_stream(StreamConfig config) {
  check_open();
  auto work = [nc = connection_, js = js_, config = std::move(config)] {
    require_connected(nc);
    std::vector<const char*> subjects;
    for (const auto& s : config.subjects)
      subjects.push_back(s.c_str());
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = config.name.c_str();
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = static_cast<int>(subjects.size());
    cfg.Storage = js_FileStorage;
    if (config.max_age)
      cfg.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(*config.max_age).count();
    if (config.max_msgs_per_subject) cfg.MaxMsgsPerSubject = *config.max_msgs_per_subject;
    jsStreamInfo* info = nullptr;
    jsErrCode code{};
    const natsStatus s = js_AddStream(&info, js, &cfg, nullptr, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(info);
      return true;
    }
    // The same configuration again is a success; another one means the stream exists already
    // (made by another node, or an earlier version): it is used as it is.
    if (code == JSStreamNameExistErr) return true;
    fail("cannot create stream " + config.name, s, code);
  };
  co_await on_pool<bool>(pool_, std::move(work));
}

awaitable<std::uint64_t> NatsLink::js_publish(
    std::string subject, std::string data, std::optional<std::uint64_t> expect_last_subject_seq) {
  check_open();
  auto work = [nc = connection_, js = js_, subject = std::move(subject), data = std::move(data),
               expect = expect_last_subject_seq]() -> std::uint64_t {
    require_connected(nc);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (expect && *expect == 0) po.ExpectNoMessage = true;
    if (expect && *expect != 0) po.ExpectLastSubjectSeq = *expect;
    jsPubAck* ack = nullptr;
    jsErrCode code{};
    const natsStatus s =
        js_Publish(&ack, js, subject.c_str(), data.data(), length_of(data), &po, &code);
    if (s != NATS_OK) {
      const std::string why = with_code(error_text(s), code);
      if (code == JSStreamWrongLastSequenceErr)
        throw WrongLastSequence("publish to " + subject + ": " + why);
      throw ClusterError("cannot publish to " + subject + ": " + why);
    }
    const std::uint64_t seq = ack->Sequence;
    jsPubAck_Destroy(ack);
    return seq;
  };
  co_return co_await on_pool<std::uint64_t>(publish_pool_, std::move(work));
}

awaitable<std::optional<StreamMessage>> NatsLink::js_last_message(std::string stream,
                                                                  std::string subject) {
  check_open();
  auto work = [nc = connection_, js = js_, stream = std::move(stream),
               subject = std::move(subject)]() -> std::optional<StreamMessage> {
    require_connected(nc);
    natsMsg* msg = nullptr;
    jsErrCode code{};
    const natsStatus s = js_GetLastMsg(&msg, js, stream.c_str(), subject.c_str(), nullptr, &code);
    if (s == NATS_NOT_FOUND && code != JSStreamNotFoundErr) return std::nullopt;
    if (s != NATS_OK) fail("cannot read the last message on " + subject + " in " + stream, s, code);
    StreamMessage m;
    m.subject = natsMsg_GetSubject(msg);
    m.data = data_of(msg);
    m.stream_seq = natsMsg_GetSequence(msg);
    natsMsg_Destroy(msg);
    return m;
  };
  // On a publish thread: a room's tip is read between its publishes, and must not wait behind
  // KeyValue work on the request thread.
  co_return co_await on_pool<std::optional<StreamMessage>>(publish_pool_, std::move(work));
}

awaitable<NatsLink::SubscriptionId> NatsLink::js_subscribe(std::string stream, std::string subjects,
                                                           std::optional<std::uint64_t> from_seq,
                                                           StreamHandler handler) {
  check_open();
  const SubscriptionId id = ++next_id_;
  // Registered first: the delivery thread may post messages before this coroutine resumes.
  shared_->stream_handlers.emplace(id, std::move(handler));
  natsSubscription* sub = nullptr;
  try {
    auto work = [nc = connection_, js = js_, shared = shared_, id, stream = std::move(stream),
                 subjects = std::move(subjects), from_seq]() -> natsSubscription* {
      require_connected(nc);
      auto* hook = new SubscriptionHook{shared, id};
      jsSubOptions so;
      jsSubOptions_Init(&so);
      so.Stream = stream.c_str();
      so.Ordered = true;
      so.Config.DeliverPolicy = from_seq ? js_DeliverByStartSequence : js_DeliverNew;
      if (from_seq) so.Config.OptStartSeq = *from_seq;
      natsSubscription* s = nullptr;
      jsErrCode code{};
      natsStatus status =
          js_Subscribe(&s, js, subjects.c_str(), on_stream_message, hook, nullptr, &so, &code);
      if (status != NATS_OK) {
        const std::string why = with_code(error_text(status), code);
        delete hook;
        throw ClusterError("cannot subscribe to " + subjects + " in " + stream + ": " + why);
      }
      status = natsSubscription_SetOnCompleteCB(s, on_subscription_complete, hook);
      if (status != NATS_OK) {
        const std::string why = error_text(status);
        natsSubscription_Unsubscribe(s);  // the hook is left allocated, as in subscribe()
        natsSubscription_Destroy(s);
        throw ClusterError("cannot subscribe to " + subjects + " in " + stream + ": " + why);
      }
      return s;
    };
    sub = co_await on_pool<natsSubscription*>(pool_, std::move(work));
  } catch (...) {
    shared_->stream_handlers.erase(id);
    throw;
  }
  if (closing_) {
    // Closed while the consumer was being made: finish_close has not seen this one.
    natsSubscription_Destroy(sub);
    throw ClusterError("the NATS link is closed");
  }
  subscriptions_.emplace(id, sub);
  is_js_.emplace(id, true);
  co_return id;
}

awaitable<void> NatsLink::ensure_kv_bucket(KvBucketConfig config) {
  check_open();
  if (buckets_.contains(config.bucket)) co_return;
  if (config.ttl < std::chrono::milliseconds(100))
    throw ClusterError("KeyValue bucket " + config.bucket + ": a TTL under 100 ms");
  const std::string name = config.bucket;
  auto work = [nc = connection_, js = js_, config = std::move(config)] {
    require_connected(nc);
    kvStore* kv = nullptr;
    natsStatus s = js_KeyValue(&kv, js, config.bucket.c_str());
    if (s == NATS_NOT_FOUND) {
      kvConfig kc;
      kvConfig_Init(&kc);
      kc.Bucket = config.bucket.c_str();
      kc.History = 1;
      kc.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(config.ttl).count();
      kc.StorageType = js_FileStorage;
      s = js_CreateKeyValue(&kv, js, &kc);
    }
    if (s != NATS_OK) fail("cannot open KeyValue bucket " + config.bucket, s);
    return kv;
  };
  kvStore* kv = co_await on_pool<kvStore*>(pool_, std::move(work));
  if (closing_ || buckets_.contains(name)) {
    kvStore_Destroy(kv);  // closed meanwhile, or a concurrent call bound it first
    check_open();
    co_return;
  }
  buckets_.emplace(name, kv);
}

awaitable<bool> NatsLink::kv_create(std::string bucket_name, std::string key, std::string value) {
  kvStore* kv = bucket(bucket_name);
  auto work = [nc = connection_, kv, bucket_name = std::move(bucket_name), key = std::move(key),
               value = std::move(value)] {
    require_connected(nc);
    std::uint64_t revision = 0;
    const natsStatus s = kvStore_Create(&revision, kv, key.c_str(), value.data(), length_of(value));
    if (s == NATS_OK) return true;
    const std::string why = error_text(s);
    // libnats reports "exists" as a generic NATS_ERR ("wrong last sequence"): look.
    if (s == NATS_ERR) {
      kvEntry* entry = nullptr;
      if (kvStore_Get(&entry, kv, key.c_str()) == NATS_OK) {
        kvEntry_Destroy(entry);
        return false;
      }
    }
    throw ClusterError("cannot create " + key + " in " + bucket_name + ": " + why);
  };
  co_return co_await on_pool<bool>(pool_, std::move(work));
}

awaitable<std::uint64_t> NatsLink::kv_put(std::string bucket_name, std::string key,
                                          std::string value) {
  kvStore* kv = bucket(bucket_name);
  auto work = [nc = connection_, kv, bucket_name = std::move(bucket_name), key = std::move(key),
               value = std::move(value)] {
    require_connected(nc);
    std::uint64_t revision = 0;
    const natsStatus s = kvStore_Put(&revision, kv, key.c_str(), value.data(), length_of(value));
    if (s != NATS_OK) fail("cannot put " + key + " in " + bucket_name, s);
    return revision;
  };
  co_return co_await on_pool<std::uint64_t>(pool_, std::move(work));
}

awaitable<bool> NatsLink::kv_update(std::string bucket_name, std::string key, std::string value,
                                    std::uint64_t last_revision) {
  kvStore* kv = bucket(bucket_name);
  auto work = [nc = connection_, kv, bucket_name = std::move(bucket_name), key = std::move(key),
               value = std::move(value), last_revision] {
    require_connected(nc);
    std::uint64_t revision = 0;
    const natsStatus s =
        kvStore_Update(&revision, kv, key.c_str(), value.data(), length_of(value), last_revision);
    if (s == NATS_OK) return true;
    const std::string why = error_text(s);
    // Like kv_create: another write came first is a generic NATS_ERR, told by its text.
    if (s == NATS_ERR && why.find("wrong last sequence") != std::string::npos) return false;
    throw ClusterError("cannot update " + key + " in " + bucket_name + ": " + why);
  };
  co_return co_await on_pool<bool>(pool_, std::move(work));
}

awaitable<std::optional<KvEntry>> NatsLink::kv_get(std::string bucket_name, std::string key) {
  kvStore* kv = bucket(bucket_name);
  auto work = [nc = connection_, kv, bucket_name = std::move(bucket_name),
               key = std::move(key)]() -> std::optional<KvEntry> {
    require_connected(nc);
    kvEntry* entry = nullptr;
    const natsStatus s = kvStore_Get(&entry, kv, key.c_str());
    if (s == NATS_NOT_FOUND) return std::nullopt;
    if (s != NATS_OK) fail("cannot get " + key + " from " + bucket_name, s);
    KvEntry e;
    const auto* data = static_cast<const char*>(kvEntry_Value(entry));
    if (data != nullptr) e.value.assign(data, static_cast<std::size_t>(kvEntry_ValueLen(entry)));
    e.revision = kvEntry_Revision(entry);
    kvEntry_Destroy(entry);
    return e;
  };
  co_return co_await on_pool<std::optional<KvEntry>>(pool_, std::move(work));
}

awaitable<void> NatsLink::kv_delete(std::string bucket_name, std::string key) {
  kvStore* kv = bucket(bucket_name);
  auto work = [nc = connection_, kv, bucket_name = std::move(bucket_name), key = std::move(key)] {
    require_connected(nc);
    const natsStatus s = kvStore_Delete(kv, key.c_str());
    if (s != NATS_OK) fail("cannot delete " + key + " from " + bucket_name, s);
    return true;
  };
  co_await on_pool<bool>(pool_, std::move(work));
}

awaitable<std::vector<std::string>> NatsLink::kv_keys(std::string bucket_name) {
  kvStore* kv = bucket(bucket_name);
  auto work = [nc = connection_, kv, bucket_name = std::move(bucket_name)] {
    require_connected(nc);
    kvKeysList list;
    const natsStatus s = kvStore_Keys(&list, kv, nullptr);
    std::vector<std::string> keys;
    if (s == NATS_NOT_FOUND) return keys;
    if (s != NATS_OK) fail("cannot list the keys of " + bucket_name, s);
    for (int i = 0; i < list.Count; ++i)
      keys.emplace_back(list.Keys[i]);
    kvKeysList_Destroy(&list);
    return keys;
  };
  co_return co_await on_pool<std::vector<std::string>>(pool_, std::move(work));
}

awaitable<void> NatsLink::close() {
  if (closing_) co_return;
  begin_close();
  if (connection_ != nullptr) {
    auto work = [connection = connection_] {
      natsConnection_Close(connection);
      return true;
    };
    co_await on_pool<bool>(pool_, std::move(work));
  }
  finish_close();
}

void NatsLink::begin_close() {
  closing_ = true;
  shared_->open = false;
  shared_->detach();
}

void NatsLink::finish_close() {
  if (finished_) return;
  finished_ = true;
  // Operations still on the pool were released by natsConnection_Close and end quickly; their
  // results are posted to the loop, whose coroutines see ClusterError.
  pool_.join();
  publish_pool_.join();
  for (auto& [id, sub] : subscriptions_)
    natsSubscription_Destroy(sub);
  subscriptions_.clear();
  is_js_.clear();
  for (auto& [name, kv] : buckets_)
    kvStore_Destroy(kv);
  buckets_.clear();
  if (js_ != nullptr) jsCtx_Destroy(js_);
  js_ = nullptr;
  if (connection_ != nullptr) natsConnection_Destroy(connection_);
  connection_ = nullptr;
  if (options_ != nullptr) natsOptions_Destroy(options_);
  options_ = nullptr;
}

}  // namespace parley::server
