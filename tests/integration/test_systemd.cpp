// parleyd under a service manager: the test plays systemd's side of sd_notify(3) (a unix
// datagram socket in NOTIFY_SOCKET, WATCHDOG_USEC) and checks what parleyd tells it and when.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

// Key generation, ASan and a busy machine all slow the start down; none of it may fail a test.
constexpr milliseconds kReadyTimeout{60000};

// A loopback port that was free a moment ago (the kernel hands out ephemeral ports in an order
// that makes an immediate reuse by someone else unlikely).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot find a free port";
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::uint64_t monotonic_usec_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// The next notification that is more than a STATUS= update (those come whenever the session
// count changed in the last second).
std::optional<std::string> next_state(NotifyListener& manager, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto message =
        manager.next(std::max(0ms, std::chrono::ceil<milliseconds>(deadline - Clock::now())));
    if (!message || !message->starts_with("STATUS=")) return message;
  }
}

// Starts `server` with NOTIFY_SOCKET (and any WATCHDOG_ variables already set on it) and waits
// for READY=1, which must be the first thing the server says.
::testing::AssertionResult start_notified(ServerProcess& server, NotifyListener& manager,
                                          const nlohmann::json& config) {
  server.set_env("NOTIFY_SOCKET", manager.address());
  if (auto started = server.start(config); !started) return started;
  auto first = manager.next(kReadyTimeout);
  if (!first) return ::testing::AssertionFailure() << "no notification within the start timeout";
  if (!has_line(*first, "READY=1"))
    return ::testing::AssertionFailure() << "the first notification is not READY=1: " << *first;
  return ::testing::AssertionSuccess();
}

TEST(Systemd, ReadyOnlyOnceEveryPortAcceptsConnections) {
  ServerProcess server;
  NotifyListener manager;
  auto cfg = server.default_config();
  const std::uint16_t fixed = free_port();
  ASSERT_NE(fixed, 0);
  // Two listeners: READY=1 waits for both. A key that does not exist yet makes parleyd spend
  // a while generating it before it binds anything, which is the window READY=1 must not cover.
  cfg["listen"] = nlohmann::json::array(
      {{{"address", "127.0.0.1"}, {"port", fixed}}, {{"address", "127.0.0.1"}, {"port", 0}}});
  cfg["identity_key"] = server.dir().file("state/identity.pem");
  server.set_env("NOTIFY_SOCKET", manager.address());
  ASSERT_TRUE(server.launch(cfg));

  auto ready = manager.next(kReadyTimeout);
  ASSERT_TRUE(ready.has_value()) << "no READY=1 within " << kReadyTimeout.count() << " ms";
  // Connect the moment READY=1 is read: the port must take the connection now, not soon.
  TestClient first;
  ASSERT_TRUE(first.connect(fixed, {}, 1000ms)) << "READY=1 came before the port accepted";
  EXPECT_TRUE(has_line(*ready, "READY=1")) << "the first notification must be READY=1: " << *ready;
  EXPECT_EQ(notify_field(*ready, "STATUS"), "sessions: 0, handshakes in progress: 0");

  // The other listener (its port is in the log, written before READY=1) is serving too.
  std::vector<std::uint16_t> ports;
  server.wait_for_log(
      [&ports](const nlohmann::json& j) {
        if (j.value("event", "") == "listening") ports.push_back(j["port"].get<std::uint16_t>());
        return ports.size() == 2;
      },
      5s);
  ASSERT_EQ(ports.size(), 2u);
  HandshakeOptions new_key;
  new_key.pinned = std::nullopt;  // a fresh key: trust on first use
  for (const std::uint16_t port : ports) {
    TestClient c;
    ASSERT_TRUE(c.connect(port, {}, 1000ms)) << "port " << port;
    EXPECT_TRUE(c.handshake(new_key).established) << "port " << port;
  }
  EXPECT_TRUE(first.handshake(new_key).established);
}

TEST(Systemd, UnreachableNotifySocketDoesNotStopTheServer) {
  ServerProcess server;
  server.set_env("NOTIFY_SOCKET", server.dir().file("no-such-socket"));
  ASSERT_TRUE(server.start(server.default_config()));
  TestClient c;
  EXPECT_TRUE(c.open(server.port()));
}

TEST(Systemd, StatusFollowsTheSessionCountAtMostOncePerSecond) {
  ServerProcess server;
  NotifyListener manager;
  ASSERT_TRUE(start_notified(server, manager, server.default_config()));

  const auto begin = Clock::now();
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 12; ++i) {
    clients.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(clients.back()->open(server.port()));
  }
  // The count settles at 12; the server says so within about a second.
  std::optional<std::string> twelve;
  const auto deadline = Clock::now() + 5s;
  while (!twelve && Clock::now() < deadline) {
    auto message = manager.next(std::chrono::ceil<milliseconds>(deadline - Clock::now()));
    if (!message) break;
    if (notify_field(*message, "STATUS") == "sessions: 12, handshakes in progress: 0")
      twelve = message;
  }
  ASSERT_TRUE(twelve.has_value()) << "no STATUS= with 12 sessions";
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  // Twelve sessions opened, yet no more STATUS= updates than seconds passed (plus the first).
  std::size_t updates = 0;
  for (const auto& m : manager.received())
    if (notify_field(m, "STATUS") && !has_line(m, "READY=1")) ++updates;
  EXPECT_LE(static_cast<double>(updates), seconds + 1.0) << "STATUS= is not rate-limited";

  clients.clear();
  EXPECT_TRUE(manager.wait_for("STATUS=sessions: 0, handshakes in progress: 0", 5s).has_value());
}

TEST(Systemd, ReloadIsBracketedByReloadingAndReadyEvenWhenItFails) {
  ServerProcess server;
  NotifyListener manager;
  auto cfg = server.default_config();
  ASSERT_TRUE(start_notified(server, manager, cfg));
  TestClient a;
  ASSERT_TRUE(a.open(server.port()));

  // A good reload.
  cfg["limits"]["rate"] = 50;
  server.write_config(cfg);
  const std::uint64_t before = monotonic_usec_now();
  auto mark = server.log_mark();
  server.signal(SIGHUP);
  auto reloading = next_state(manager, 5s);
  ASSERT_TRUE(reloading.has_value()) << "no notification after SIGHUP";
  EXPECT_TRUE(has_line(*reloading, "RELOADING=1")) << *reloading;
  auto usec = notify_field(*reloading, "MONOTONIC_USEC");
  ASSERT_TRUE(usec.has_value()) << "RELOADING=1 without MONOTONIC_USEC=: " << *reloading;
  const std::uint64_t stamp = std::stoull(*usec);
  EXPECT_GE(stamp, before);
  EXPECT_LE(stamp, monotonic_usec_now());
  auto ready = next_state(manager, 5s);
  ASSERT_TRUE(ready.has_value()) << "no READY=1 after the reload";
  EXPECT_TRUE(has_line(*ready, "READY=1")) << *ready;
  EXPECT_EQ(notify_field(*ready, "STATUS"), "sessions: 1, handshakes in progress: 0");
  auto ok = server.wait_for_event("reload", 5s, mark);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((*ok)["ok"], true);

  // A bad one: the manager still gets READY=1 (the old configuration serves on), and the
  // status says the reload failed.
  server.write_config_text("{\"limits\": {\"rate\": \"fast\"}}");
  mark = server.log_mark();
  server.signal(SIGHUP);
  reloading = next_state(manager, 5s);
  ASSERT_TRUE(reloading.has_value());
  EXPECT_TRUE(has_line(*reloading, "RELOADING=1")) << *reloading;
  EXPECT_TRUE(notify_field(*reloading, "MONOTONIC_USEC").has_value());
  ready = next_state(manager, 5s);
  ASSERT_TRUE(ready.has_value()) << "no READY=1 after a failed reload";
  EXPECT_TRUE(has_line(*ready, "READY=1")) << *ready;
  EXPECT_NE(notify_field(*ready, "STATUS").value_or("").find("last reload failed"),
            std::string::npos)
      << *ready;
  auto failed = server.wait_for_event("reload", 5s, mark);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ((*failed)["ok"], false);
  a.expect_alive();

  // The next good reload clears the failure from the status.
  server.write_config(cfg);
  server.signal(SIGHUP);
  ASSERT_TRUE(manager.wait_for("RELOADING=1", 5s).has_value());
  ready = manager.wait_for("READY=1", 5s);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(notify_field(*ready, "STATUS"), "sessions: 1, handshakes in progress: 0");
}

TEST(Systemd, WatchdogPingsAtHalfTheInterval) {
  ServerProcess server;
  NotifyListener manager;
  server.set_env("WATCHDOG_USEC", "1000000");  // 1 s: a ping every 500 ms
  ASSERT_TRUE(start_notified(server, manager, server.default_config()));
  manager.drain_for(3000ms);
  // About 6 in 3 s; a loaded machine (or ASan) may stretch the loop, but not below half.
  EXPECT_GE(manager.watchdog_pings(), 3u);
  EXPECT_LE(manager.watchdog_pings(), 8u) << "pinging faster than WATCHDOG_USEC/2";

  // A stopped process stops pinging (what systemd's watchdog is there to notice), and picks up
  // again when it runs.
  server.signal(SIGSTOP);
  manager.drain_for(200ms);  // whatever was in flight
  const std::size_t at_stop = manager.watchdog_pings();
  manager.drain_for(1500ms);
  EXPECT_EQ(manager.watchdog_pings(), at_stop) << "pings while stopped";
  server.signal(SIGCONT);
  manager.drain_for(1500ms);
  EXPECT_GT(manager.watchdog_pings(), at_stop) << "no pings after SIGCONT";
  TestClient c;
  EXPECT_TRUE(c.open(server.port()));
}

TEST(Systemd, NoWatchdogPingsForAnotherPid) {
  ServerProcess server;
  NotifyListener manager;
  server.set_env("WATCHDOG_USEC", "100000");
  server.set_env("WATCHDOG_PID", "1");  // meant for some other process
  ASSERT_TRUE(start_notified(server, manager, server.default_config()));
  manager.drain_for(500ms);
  EXPECT_EQ(manager.watchdog_pings(), 0u);
}

// STOPPING=1 goes out first, while sessions are still open: here one whose peer takes nothing,
// so it lingers through most of the grace period before it closes.
TEST(Systemd, StoppingOnTermBeforeTheSessionsClose) {
  ServerProcess server;
  NotifyListener manager;
  server.set_env("WATCHDOG_USEC", "1000000");
  auto cfg = server.default_config();
  cfg["limits"]["send_buffer_bytes"] = 4096;
  cfg["limits"]["write_deadline_ms"] = 300000;
  ASSERT_TRUE(start_notified(server, manager, cfg));
  TestClient a, stalled;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(stalled.open(server.port(), {}, ConnectOptions{4096}));
  for (TestClient* c : {&stalled, &a}) {
    ASSERT_TRUE(c->send(req::Join{"jam"}, RequestId{1}));
    (void)c->wait_for<evt::Ack>();
  }
  const std::string text(4000, 'j');
  for (std::int64_t id = 10; id < 25; ++id)  // 60 KB: far more than the stalled peer's buffers
    ASSERT_TRUE(a.send(req::Say{"jam", text}, RequestId{id}));
  a.expect_alive();
  auto stalled_closed = [&] {
    for (const auto& j : server.events("session_close"))
      if (j.value("nick", "") == stalled.nick()) return true;
    return false;
  };

  server.signal(SIGTERM);
  auto stopping = manager.wait_for("STOPPING=1", 5s);
  ASSERT_TRUE(stopping.has_value()) << "no STOPPING=1 after SIGTERM";
  EXPECT_NE(notify_field(*stopping, "STATUS").value_or("").find("SIGTERM"), std::string::npos);
  EXPECT_FALSE(stalled_closed()) << "a session closed before STOPPING=1";
  auto closed = a.wait_closed();
  EXPECT_TRUE(closed.close_record) << closed;
  auto status = server.wait_exit(10s * kSlowdown);
  EXPECT_TRUE(status.clean()) << status;
  EXPECT_TRUE(server.wait_for_log([&](const nlohmann::json& j) {
    return j.value("event", "") == "session_close" && j.value("nick", "") == stalled.nick();
  })) << "the stalled session's end was not logged";
  // Nothing but pings may follow STOPPING=1 (no READY=1 or STATUS= from a dying server).
  manager.drain_for(100ms);
  ASSERT_FALSE(manager.received().empty());
  EXPECT_TRUE(has_line(manager.received().back(), "STOPPING=1")) << manager.received().back();
}

// ------------------------------------------------------------------ logrotate

// The JSON lines of a file so far (a file sink flushes warn+ at once, the rest on the stats tick).
std::vector<nlohmann::json> file_events(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

// Polls the file (there is nothing to wait on for a regular file) until `pred` matches a line.
std::optional<nlohmann::json> wait_for_file_event(
    const std::string& path, const std::function<bool(const nlohmann::json&)>& pred,
    milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (auto& j : file_events(path))
      if (pred(j)) return j;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

bool is_reload(const nlohmann::json& j, bool ok) {
  return j.value("event", "") == "reload" && j.value("ok", !ok) == ok;
}

TEST(Logs, SighupReopensTheLogFileEvenWhenTheConfigIsBroken) {
  ServerProcess server;
  auto cfg = server.default_config();
  const std::string log = server.dir().file("parleyd.log");
  cfg["log"]["file"] = log;
  cfg["log"]["stats_interval_s"] = 1;  // the file sink flushes info lines on this tick
  ASSERT_TRUE(server.launch(cfg));
  auto listening = wait_for_file_event(
      log, [](const nlohmann::json& j) { return j.value("event", "") == "listening"; }, 10s);
  ASSERT_TRUE(listening.has_value()) << "no listening line in " << log << "; stderr:\n"
                                     << server.log_text();

  // logrotate moves the file away, and the config happens to be broken at that moment.
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  server.write_config_text("{\"limits\": {\"rate\": \"fast\"}}");
  server.signal(SIGHUP);
  auto failed = wait_for_file_event(
      log, [](const auto& j) { return is_reload(j, false); }, 5s);
  EXPECT_TRUE(failed.has_value()) << "the failed reload was not logged to a fresh " << log;

  // Rotated again, config fixed: the next SIGHUP reopens and reloads.
  ASSERT_EQ(::rename(log.c_str(), (log + ".2").c_str()), 0);
  server.write_config(cfg);
  server.signal(SIGHUP);
  auto ok = wait_for_file_event(
      log, [](const auto& j) { return is_reload(j, true); }, 5s);
  EXPECT_TRUE(ok.has_value()) << "the reload was not logged to a fresh " << log;
  for (const auto& j : file_events(log + ".1"))
    EXPECT_NE(j.value("event", ""), "reload") << "logged into the rotated file: " << j.dump();

  TestClient c;
  EXPECT_TRUE(c.open((*listening)["port"].get<std::uint16_t>()));
}

}  // namespace
}  // namespace parley::it
