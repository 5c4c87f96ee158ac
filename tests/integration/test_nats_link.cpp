// NatsLink against a real nats-server: everything it hands back arrives on the loop thread,
// JetStream's expected-sequence refusals are told apart, KeyValue create-if-absent and TTL
// work, failures are bounded and clear, and a NATS restart is seen as two state events.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <exception>
#include <functional>
#include <thread>

#include "nats_fixture.hpp"
#include "nats_link.hpp"

namespace parley::it {
namespace {

namespace asio = boost::asio;
using server::ClusterError;
using server::LinkState;
using server::NatsLink;
using server::StreamMessage;
using server::WrongLastSequence;
using namespace std::chrono_literals;

const milliseconds kBound = kDefaultTimeout * kSlowdown;

// The event loop the link posts to, run by the test thread in bounded steps.
class Loop {
 public:
  asio::any_io_executor executor() { return io_.get_executor(); }

  // Runs handlers until `done` or the deadline; false at the deadline.
  bool run_until(const std::function<bool()>& done, milliseconds timeout = kBound) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      io_.run_one_until(deadline);
    }
    return true;
  }

  // Runs the coroutine to its end on the loop and returns its result (or throws its exception).
  // At the deadline the test fails; the coroutine is abandoned (destroyed with the loop).
  template <class T>
  T run(asio::awaitable<T> op, milliseconds timeout = kBound) {
    auto state = std::make_shared<Outcome<T>>();
    asio::co_spawn(io_, std::move(op), [state](std::exception_ptr e, T value) {
      state->error = e;
      if (!e) state->value.emplace(std::move(value));
      state->done = true;
    });
    if (!run_until([&] { return state->done; }, timeout))
      throw std::runtime_error("timed out on the loop");
    if (state->error) std::rethrow_exception(state->error);
    return std::move(*state->value);
  }

  void run(asio::awaitable<void> op, milliseconds timeout = kBound) {
    auto state = std::make_shared<Outcome<bool>>();
    asio::co_spawn(io_, std::move(op), [state](std::exception_ptr e) {
      state->error = e;
      state->done = true;
    });
    if (!run_until([&] { return state->done; }, timeout))
      throw std::runtime_error("timed out on the loop");
    if (state->error) std::rethrow_exception(state->error);
  }

  // Waits `d` on the loop (between polls of a server-side condition).
  void pause(milliseconds d) {
    asio::steady_timer timer(io_, d);
    bool fired = false;
    timer.async_wait([&](boost::system::error_code) { fired = true; });
    run_until([&] { return fired; }, d + kBound);
  }

 private:
  template <class T>
  struct Outcome {
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
  };

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
};

server::NatsTimeouts fast_timeouts() {
  server::NatsTimeouts t;
  t.connect = 2000ms;
  t.request = milliseconds(5000 * kSlowdown);
  t.reconnect_wait = 100ms;
  return t;
}

config::Cluster cluster_at(const std::string& url) {
  config::Cluster c;
  c.servers = {url};
  c.node = "test";
  return c;
}

class NatsLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PARLEY_REQUIRE_NATS_SERVER();
    ASSERT_TRUE(nats_.start());
  }

  std::unique_ptr<NatsLink> connect() {
    return loop_.run(NatsLink::connect(loop_.executor(), cluster_at(nats_.url()), fast_timeouts()));
  }

  // Declared first, destroyed last: links (test locals) go before the loop they post to.
  Loop loop_;
  NatsServer nats_;
  const std::thread::id loop_thread_ = std::this_thread::get_id();
};

asio::awaitable<std::thread::id> thread_after_publish(NatsLink& link) {
  // Named: no class temporaries inside a co_await expression (the g++ 12 pitfall).
  std::string subject = "t.after", data = "x";
  co_await link.js_publish(std::move(subject), std::move(data));
  co_return std::this_thread::get_id();
}

TEST_F(NatsLinkTest, MessagesAndResumptionsComeOnTheLoopThread) {
  auto link = connect();
  std::vector<std::pair<std::string, std::string>> got;
  std::vector<std::thread::id> threads;
  link->subscribe("t.>", [&](std::string subject, std::string data) {
    got.emplace_back(std::move(subject), std::move(data));
    threads.push_back(std::this_thread::get_id());
  });
  link->publish("t.one", "hello");
  link->publish("t.two", std::string("with\0nul", 8));
  ASSERT_TRUE(loop_.run_until([&] { return got.size() == 2; }));
  EXPECT_EQ(got[0], (std::pair<std::string, std::string>{"t.one", "hello"}));
  EXPECT_EQ(got[1], (std::pair<std::string, std::string>{"t.two", std::string("with\0nul", 8)}));
  for (const auto& id : threads)
    EXPECT_EQ(id, loop_thread_);
  EXPECT_EQ(link->publish_failures(), 0u);
  EXPECT_EQ(link->connected_url(), nats_.url());

  // A blocking call ran on the pool; the coroutine that awaited it resumes on the loop.
  server::StreamConfig stream;
  stream.name = "T";
  stream.subjects = {"t.after"};
  loop_.run(link->ensure_stream(stream));
  EXPECT_EQ(loop_.run(thread_after_publish(*link)), loop_thread_);
}

TEST_F(NatsLinkTest, ExpectedLastSubjectSequenceIsEnforcedAndItsRefusalIsItsOwnError) {
  auto link = connect();
  server::StreamConfig stream;
  stream.name = "ROOMS";
  stream.subjects = {"room.>"};
  stream.max_age = std::chrono::seconds(3600);
  loop_.run(link->ensure_stream(stream));
  loop_.run(link->ensure_stream(stream));  // again: already there, fine

  // 0: the subject must have no message yet.
  const auto first = loop_.run(link->js_publish("room.a", "1", 0));
  EXPECT_EQ(first, 1u);
  const auto second = loop_.run(link->js_publish("room.a", "2", first));
  EXPECT_EQ(second, 2u);
  // Another subject in the same stream has its own last sequence.
  EXPECT_EQ(loop_.run(link->js_publish("room.b", "x", 0)), 3u);

  // Someone else published first: the expectation is stale.
  EXPECT_THROW(loop_.run(link->js_publish("room.a", "3", first)), WrongLastSequence);
  EXPECT_THROW(loop_.run(link->js_publish("room.a", "3", 0)), WrongLastSequence);
  EXPECT_THROW(loop_.run(link->js_publish("room.c", "3", 7)), WrongLastSequence);
  try {
    loop_.run(link->js_publish("room.a", "3", first));
  } catch (const WrongLastSequence& e) {
    EXPECT_NE(std::string(e.what()).find("10071"), std::string::npos) << e.what();
  }
  // Without an expectation it is appended; nothing was stored by the refused ones.
  EXPECT_EQ(loop_.run(link->js_publish("room.a", "4")), 4u);

  // Other failures are ClusterError but not WrongLastSequence: no stream takes this subject.
  try {
    loop_.run(link->js_publish("nowhere.x", "d", 0));
    ADD_FAILURE() << "published to a subject no stream takes";
  } catch (const WrongLastSequence& e) {
    ADD_FAILURE() << "a missing stream reported as a wrong sequence: " << e.what();
  } catch (const ClusterError& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere.x"), std::string::npos) << e.what();
  }

  const auto last = loop_.run(link->js_last_message("ROOMS", "room.a"));
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, (StreamMessage{"room.a", "4", 4}));
  EXPECT_FALSE(loop_.run(link->js_last_message("ROOMS", "room.none")));
  EXPECT_THROW(loop_.run(link->js_last_message("NO_SUCH_STREAM", "room.a")), ClusterError);
}

TEST_F(NatsLinkTest, AnOrderedSubscriptionDeliversInStreamOrderFromWhereItIsAsked) {
  auto link = connect();
  server::StreamConfig stream;
  stream.name = "S";
  stream.subjects = {"s.>"};
  loop_.run(link->ensure_stream(stream));
  for (const char* subject : {"s.a", "s.b", "s.a"})
    loop_.run(link->js_publish(subject, subject));

  std::vector<StreamMessage> all, fresh;
  std::vector<std::thread::id> threads;
  loop_.run(link->js_subscribe("S", "s.>", 2, [&](StreamMessage m) {
    threads.push_back(std::this_thread::get_id());
    all.push_back(std::move(m));
  }));
  loop_.run(link->js_subscribe("S", "s.a", std::nullopt,
                               [&](StreamMessage m) { fresh.push_back(std::move(m)); }));
  ASSERT_TRUE(loop_.run_until([&] { return all.size() == 2; }));
  EXPECT_EQ(all[0], (StreamMessage{"s.b", "s.b", 2}));
  EXPECT_EQ(all[1], (StreamMessage{"s.a", "s.a", 3}));

  for (const char* subject : {"s.b", "s.a"})
    loop_.run(link->js_publish(subject, std::string(subject) + "!"));
  ASSERT_TRUE(loop_.run_until([&] { return all.size() == 4 && fresh.size() == 1; }));
  EXPECT_EQ(all[2], (StreamMessage{"s.b", "s.b!", 4}));
  EXPECT_EQ(all[3], (StreamMessage{"s.a", "s.a!", 5}));
  // "New only" and filtered: the message after it was made, on its subject alone.
  EXPECT_EQ(fresh[0], (StreamMessage{"s.a", "s.a!", 5}));
  for (const auto& id : threads)
    EXPECT_EQ(id, loop_thread_);
}

TEST_F(NatsLinkTest, KeyValueCreateIfAbsentRefusesTheSecond) {
  auto link = connect();
  EXPECT_THROW(loop_.run(link->kv_get("nicks", "alice")), ClusterError);  // not opened yet
  server::KvBucketConfig bucket;
  bucket.bucket = "nicks";
  bucket.ttl = 60s;
  loop_.run(link->ensure_kv_bucket(bucket));
  EXPECT_TRUE(loop_.run(link->kv_create("nicks", "alice", "node-a")));
  EXPECT_FALSE(loop_.run(link->kv_create("nicks", "alice", "node-b")));
  const auto entry = loop_.run(link->kv_get("nicks", "alice"));
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->value, "node-a");  // the refused create changed nothing

  const auto revision = loop_.run(link->kv_put("nicks", "alice", "node-c"));
  EXPECT_GT(revision, entry->revision);
  EXPECT_EQ(loop_.run(link->kv_get("nicks", "alice"))->value, "node-c");
  EXPECT_TRUE(loop_.run(link->kv_create("nicks", "bob", "node-a")));
  auto keys = loop_.run(link->kv_keys("nicks"));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"alice", "bob"}));

  // A deleted key is free again.
  loop_.run(link->kv_delete("nicks", "alice"));
  EXPECT_FALSE(loop_.run(link->kv_get("nicks", "alice")));
  EXPECT_TRUE(loop_.run(link->kv_create("nicks", "alice", "node-b")));
  EXPECT_EQ(loop_.run(link->kv_get("nicks", "alice"))->value, "node-b");

  // A second link (another node) sees the same bucket and the same refusal.
  auto other = connect();
  loop_.run(other->ensure_kv_bucket(bucket));
  EXPECT_FALSE(loop_.run(other->kv_create("nicks", "bob", "node-z")));
}

TEST_F(NatsLinkTest, KeyValueEntriesExpireWithTheBucketTtl) {
  auto link = connect();
  server::KvBucketConfig bucket;
  bucket.bucket = "short";
  bucket.ttl = 500ms;
  loop_.run(link->ensure_kv_bucket(bucket));
  const auto created = Clock::now();
  ASSERT_TRUE(loop_.run(link->kv_create("short", "k", "v")));
  EXPECT_FALSE(loop_.run(link->kv_create("short", "k", "v")));
  // Polled: the server expires entries on its own timer.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !loop_.run(link->kv_get("short", "k"));
    if (!gone) loop_.pause(100ms);
  }
  ASSERT_TRUE(gone) << "the entry outlived its TTL by 10 s";
  EXPECT_GE(Clock::now() - created, 400ms);
  EXPECT_TRUE(loop_.run(link->kv_create("short", "k", "again")));
  bucket.ttl = 50ms;
  bucket.bucket = "too_short";
  EXPECT_THROW(loop_.run(link->ensure_kv_bucket(bucket)), ClusterError);
}

TEST(NatsLink, ConnectingToNothingFailsWithinTheBoundNamingTheServers) {
  Loop loop;
  const std::string url = "nats://127.0.0.1:" + std::to_string(unused_port());
  config::Cluster cluster = cluster_at(url);
  cluster.servers.push_back("nats://ops:hunter2@127.0.0.1:" + std::to_string(unused_port()));
  const auto started = Clock::now();
  try {
    loop.run(NatsLink::connect(loop.executor(), cluster, fast_timeouts()));
    ADD_FAILURE() << "connected to nothing";
  } catch (const ClusterError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with("cannot reach NATS at " + url + ", nats://***@127.0.0.1:"))
        << what;
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << "the password was shown: " << what;
  }
  EXPECT_LT(Clock::now() - started, 2 * fast_timeouts().connect * kSlowdown);
}

TEST_F(NatsLinkTest, ARestartedServerIsSeenAsDisconnectedThenReconnected) {
  auto link = connect();
  std::vector<LinkState> states;
  link->on_state([&](LinkState s) { states.push_back(s); });
  std::vector<std::string> got;
  link->subscribe("after.>",
                  [&](std::string, std::string data) { got.push_back(std::move(data)); });
  server::StreamConfig stream;
  stream.name = "KEEP";
  stream.subjects = {"keep.>"};
  loop_.run(link->ensure_stream(stream));
  loop_.run(link->js_publish("keep.x", "kept"));

  nats_.stop();
  ASSERT_TRUE(loop_.run_until([&] { return !states.empty(); }));
  EXPECT_EQ(states[0], LinkState::disconnected);
  // A request while NATS is away fails at once (not at its timeout), with ClusterError.
  const auto asked = Clock::now();
  EXPECT_THROW(loop_.run(link->js_last_message("KEEP", "keep.x")), ClusterError);
  EXPECT_LT(Clock::now() - asked, fast_timeouts().request);

  ASSERT_TRUE(nats_.start());
  ASSERT_TRUE(loop_.run_until([&] { return states.size() >= 2; }));
  EXPECT_EQ(states[1], LinkState::reconnected);
  // libnats renewed the subscription; the stream's file store kept its message.
  link->publish("after.x", "back");
  ASSERT_TRUE(loop_.run_until([&] { return got.size() == 1; }));
  EXPECT_EQ(got[0], "back");
  const auto kept = loop_.run(link->js_last_message("KEEP", "keep.x"));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->data, "kept");
  EXPECT_EQ(states.size(), 2u);
}

TEST_F(NatsLinkTest, AClosedLinkRefusesWorkAndCallsNoHandler) {
  auto link = connect();
  int calls = 0;
  std::vector<LinkState> states;
  link->on_state([&](LinkState s) { states.push_back(s); });
  link->subscribe("c.>", [&](std::string, std::string) { ++calls; });
  server::StreamConfig stream;
  stream.name = "C";
  stream.subjects = {"cs.>"};
  loop_.run(link->ensure_stream(stream));
  loop_.run(link->js_subscribe("C", "cs.>", std::nullopt, [&](StreamMessage) { ++calls; }));
  loop_.run(link->close());
  loop_.run(link->close());  // twice is fine
  // Another node publishes on both subjects: nothing reaches the closed link's handlers.
  auto other = connect();
  other->publish("c.x", "late");
  loop_.run(other->js_publish("cs.x", "late"));
  loop_.pause(200ms);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(states.empty());  // a close we asked for is not an event
  EXPECT_THROW(loop_.run(link->js_publish("cs.x", "d")), ClusterError);
  EXPECT_THROW(link->subscribe("c.y", [](std::string, std::string) {}), ClusterError);
  link->publish("c.z", "d");
  EXPECT_EQ(link->publish_failures(), 1u);
  EXPECT_EQ(link->connected_url(), "");
  link.reset();
  loop_.run(other->close());
}

TEST_F(NatsLinkTest, DestroyingAnOpenLinkIsBoundedAndSafe) {
  auto link = connect();
  int calls = 0;
  link->subscribe("d.>", [&](std::string, std::string) { ++calls; });
  server::StreamConfig stream;
  stream.name = "D";
  stream.subjects = {"ds.>"};
  loop_.run(link->ensure_stream(stream));
  loop_.run(link->js_subscribe("D", "ds.>", std::nullopt, [&](StreamMessage) { ++calls; }));
  for (int i = 0; i < 100; ++i)
    link->publish("d.x", std::to_string(i));
  const auto started = Clock::now();
  link.reset();
  EXPECT_LT(Clock::now() - started, 2s * kSlowdown);
  const int before = calls;
  loop_.pause(200ms);  // deliveries posted before the destruction find the link gone
  EXPECT_EQ(calls, before);
}

}  // namespace
}  // namespace parley::it
