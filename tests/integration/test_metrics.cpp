// The metrics endpoint (issue 16 item 5; docs/metrics.md): a real parleyd with
// "metrics": {"listen": "127.0.0.1:0"}, driven by TestClients, scraped over plain sockets. Every
// scrape goes through the strict reader in tests/support/prom_text, and through promtool when
// Debian's `prometheus` package is installed.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "prom_text.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;
using test::parse_prom_text;
using test::PromText;

// The endpoint's fixed limits (server/metrics_endpoint.hpp).
constexpr milliseconds kScrapeDeadline{3000};
constexpr std::size_t kMaxScrapers = 4;

// One TCP connection with blocking, deadline-bounded calls (poll), for speaking HTTP by hand.
class RawConnection {
 public:
  RawConnection() = default;
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  ::testing::AssertionResult connect(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return ::testing::AssertionFailure() << "socket: " << std::strerror(errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return ::testing::AssertionFailure() << "connect: " << std::strerror(errno);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return ::testing::AssertionSuccess();
  }

  // All of it, or false (the server may close on us first: EPIPE and ECONNRESET are answers).
  bool send(std::string_view bytes, milliseconds timeout = kDefaultTimeout) {
    const auto deadline = Clock::now() + timeout;
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      if (!wait(POLLOUT, deadline)) return false;
    }
    return true;
  }

  // Reads until the server closes (true) or the deadline passes (false); keeps what arrived.
  bool read_to_eof(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) return true;
      if (errno == ECONNRESET) return true;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
      if (!wait(POLLIN, deadline)) return false;
    }
  }

  const std::string& received() const { return received_; }

 private:
  bool wait(short events, Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) > 0;
  }

  int fd_ = -1;
  std::string received_;
};

struct HttpResponse {
  bool closed = false;                         // the server closed the connection after it
  int status = 0;                              // 0: no status line came
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

HttpResponse parse_response(const std::string& raw, bool closed) {
  HttpResponse r;
  r.closed = closed;
  const auto head_end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.") || head_end == std::string::npos) return r;
  r.status = std::atoi(raw.substr(9, 3).c_str());
  std::size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    const auto end = raw.find("\r\n", pos);
    const auto line = raw.substr(pos, end - pos);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    pos = end + 2;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

// One request, the whole response, and whether the server closed the connection after it.
HttpResponse http(std::uint16_t port, std::string_view request) {
  RawConnection c;
  if (!c.connect(port)) return {};
  c.send(request);
  const bool closed = c.read_to_eof(kDefaultTimeout);
  return parse_response(c.received(), closed);
}

constexpr std::string_view kGetMetrics =
    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: parley-test\r\n"
    "Accept: text/plain\r\n\r\n";

// A scrape that must succeed; its body, checked by the strict reader.
PromText scrape(std::uint16_t port, std::string* raw_body = nullptr) {
  HttpResponse r = http(port, kGetMetrics);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
  EXPECT_TRUE(r.closed) << "the connection must close after the response";
  PromText parsed = parse_prom_text(r.body);
  EXPECT_TRUE(parsed.ok()) << parsed.errors_text() << "\n" << r.body;
  if (raw_body) *raw_body = r.body;
  return parsed;
}

double value_of(const PromText& p, std::string_view name, const test::PromLabels& labels = {}) {
  const auto v = p.value(name, labels);
  EXPECT_TRUE(v.has_value()) << "no sample " << name;
  return v.value_or(-1);
}

nlohmann::json metrics_config(ServerProcess& server) {
  auto cfg = server.default_config();
  cfg["metrics"] = {{"listen", "127.0.0.1:0"}};
  return cfg;
}

// The endpoint's port, from its log line (port 0 in the config).
std::uint16_t metrics_port(ServerProcess& server) {
  const auto line = server.wait_for_event("metrics_listening");
  if (!line) {
    ADD_FAILURE() << "no metrics_listening line";
    return 0;
  }
  EXPECT_EQ(line->value("address", ""), "127.0.0.1");
  EXPECT_EQ(line->value("loopback", false), true);
  EXPECT_EQ(line->value("level", ""), "info");
  return line->value("port", std::uint16_t{0});
}

// What a session's end looks like once the server has logged it, so a scrape after sees it.
void wait_closed_in_log(ServerProcess& server, std::size_t count) {
  const auto until = Clock::now() + kDefaultTimeout;
  while (server.events("session_close").size() < count && Clock::now() < until)
    std::this_thread::sleep_for(10ms);
}

// The path of an executable on $PATH, or "".
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t pos = 0;
  while (pos <= dirs.size()) {
    const auto end = std::min(dirs.find(':', pos), dirs.size());
    const std::string candidate = dirs.substr(pos, end - pos) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    pos = end + 1;
  }
  return "";
}

// ---------------------------------------------------------------------------------------------

// Everything the issue lists moves as the clients act: handshakes (by result and suite, with
// their latency), an admission refusal, sessions by state, rooms, messages, rate-limited
// requests, bytes, loop lag, CPU and memory.
TEST(Metrics, ScrapeCountsWhatHappened) {
  ServerProcess server;
  auto cfg = metrics_config(server);
  cfg["limits"]["max_pending_per_source"] = 1;  // a second handshake in progress is refused
  cfg["limits"]["rate"] = 0.1;                  // no refill worth counting during the test
  cfg["limits"]["burst"] = 5;
  ASSERT_TRUE(server.start(cfg));
  const std::uint16_t mport = metrics_port(server);
  ASSERT_NE(mport, 0);
  ASSERT_NE(mport, server.port());

  const PromText before = scrape(mport);
  EXPECT_GT(before.sample_count(), 40u);
  EXPECT_EQ(value_of(before, "parley_connections_accepted_total"), 0);
  EXPECT_EQ(value_of(before, "parley_sessions", {{"state", "established"}}), 0);
  EXPECT_EQ(
      value_of(before, "parley_handshakes_total", {{"result", "ok"}, {"suite", "AES-256-GCM"}}), 0);
  EXPECT_EQ(value_of(before, "parley_admission_refusals_total", {{"reason", "source_pending"}}), 0);
  EXPECT_EQ(value_of(before, "parley_rooms"), 0);

  // A connection that sends nothing holds its source's one pending handshake; the next is refused
  // at accept, before any cryptography. Then the holder gives up (bad_message, "connection
  // closed").
  {
    TestClient holder, refused;
    ASSERT_TRUE(holder.connect(server.port()));
    ASSERT_TRUE(refused.connect(server.port()));
    const auto error = refused.read_error_frame();
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code, StatusCode::server_full);
    ASSERT_TRUE(server.wait_for_event("admission_refused").has_value());
  }
  ASSERT_TRUE(server.wait_for_event("handshake_failed").has_value());

  // Two members of a room and one line between them; a third client bursts past its rate.
  TestClient a, b, c;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  ASSERT_TRUE(c.open(server.port()));
  ASSERT_TRUE(a.send(req::Join{"metrics"}, RequestId{std::int64_t{1}}));
  (void)a.expect<evt::Ack>();
  ASSERT_TRUE(b.send(req::Join{"metrics"}, RequestId{std::int64_t{1}}));
  (void)b.expect<evt::Ack>();
  (void)a.expect<evt::Joined>();
  ASSERT_TRUE(a.send(req::Say{"metrics", "counted, never logged"}, RequestId{std::int64_t{2}}));
  (void)a.expect<evt::Ack>();
  EXPECT_EQ(b.expect<evt::Message>().text, "counted, never logged");
  std::vector<req::Request> pings;
  for (std::int64_t id = 1; id <= 8; ++id)
    pings.push_back(request(req::Ping{}, id));
  ASSERT_TRUE(c.send_burst(pings));  // 5 within the burst, 3 refused
  for (int i = 0; i < 5; ++i)
    (void)c.expect<evt::Pong>();
  for (std::int64_t id = 6; id <= 8; ++id)
    c.expect_error(ErrorCode::rate_limited, RequestId{id});

  // The lag timer fires every 100 ms: wait until it has a few samples.
  PromText after = scrape(mport);
  for (auto until = Clock::now() + 3s;
       value_of(after, "parley_event_loop_lag_seconds_count") < 3 && Clock::now() < until;) {
    std::this_thread::sleep_for(100ms);
    after = scrape(mport);
  }

  EXPECT_EQ(value_of(after, "parley_connections_accepted_total"), 5);  // holder, refused, a, b, c
  EXPECT_EQ(value_of(after, "parley_admission_refusals_total", {{"reason", "source_pending"}}), 1);
  for (const char* reason :
       {"source_rate", "too_many_pending", "evicted", "source_sessions", "server_full"})
    EXPECT_EQ(value_of(after, "parley_admission_refusals_total", {{"reason", reason}}), 0)
        << reason;
  EXPECT_EQ(
      value_of(after, "parley_handshakes_total", {{"result", "ok"}, {"suite", "AES-256-GCM"}}), 3);
  EXPECT_EQ(value_of(after, "parley_handshakes_total",
                     {{"result", "ok"}, {"suite", "CHACHA20-POLY1305"}}),
            0);
  EXPECT_EQ(
      value_of(after, "parley_handshakes_total", {{"result", "bad_message"}, {"suite", "none"}}),
      1);
  EXPECT_EQ(value_of(after, "parley_handshake_duration_seconds_count"), 3);
  EXPECT_GT(value_of(after, "parley_handshake_duration_seconds_sum"), 0);
  EXPECT_LT(value_of(after, "parley_handshake_duration_seconds_sum"), 3 * 5.0);
  EXPECT_EQ(value_of(after, "parley_handshake_duration_seconds_bucket", {{"le", "+Inf"}}), 3);

  EXPECT_EQ(value_of(after, "parley_sessions", {{"state", "established"}}), 3);
  EXPECT_EQ(value_of(after, "parley_sessions", {{"state", "handshake"}}), 0);
  EXPECT_EQ(value_of(after, "parley_sessions", {{"state", "closing"}}), 0);
  EXPECT_EQ(value_of(after, "parley_rooms"), 1);
  EXPECT_EQ(value_of(after, "parley_messages_relayed_total"), 1);  // to b; a got an ack
  EXPECT_EQ(value_of(after, "parley_rate_limited_requests_total"), 3);
  EXPECT_EQ(value_of(after, "parley_slow_consumers_total", {{"kind", "outbox_full"}}), 0);
  EXPECT_EQ(value_of(after, "parley_slow_consumers_total", {{"kind", "write_stalled"}}), 0);
  // Three handshakes each way (a ClientHello is over 300 bytes, a ServerHello over 700).
  EXPECT_GT(value_of(after, "parley_received_bytes_total"), 3 * 300);
  EXPECT_GT(value_of(after, "parley_sent_bytes_total"), 3 * 700);

  EXPECT_GE(value_of(after, "parley_event_loop_lag_seconds_count"), 3);
  EXPECT_GE(value_of(after, "parley_event_loop_lag_seconds_sum"), 0);
  // The server signed three ServerHellos (RSA-3072, ~2 ms each) and started up: CPU was spent.
  EXPECT_GT(value_of(after, "process_cpu_seconds_total"), 0);
  EXPECT_GT(value_of(after, "process_resident_memory_bytes"), 1 << 20);

  // Scrapes are neither sessions nor logged.
  EXPECT_EQ(server.events("session_open").size(), 4u);  // the refused one never was one
  for (const auto& line : server.log_lines())
    EXPECT_EQ(line.text.find("counted, never logged"), std::string::npos) << line.text;

  // A session that ends leaves the gauges; its room goes when its last member does.
  ASSERT_TRUE(a.send(req::Quit{}, RequestId{std::int64_t{3}}));
  ASSERT_TRUE(b.send(req::Quit{}, RequestId{std::int64_t{3}}));
  (void)a.wait_closed();
  (void)b.wait_closed();
  wait_closed_in_log(server, 2);
  const PromText later = scrape(mport);
  EXPECT_EQ(value_of(later, "parley_sessions", {{"state", "established"}}), 1);
  EXPECT_EQ(value_of(later, "parley_rooms"), 0);
  EXPECT_EQ(value_of(later, "parley_messages_relayed_total"), 1);
}

// Refusals at the ClientHello, before any signature: one source over its sessions, then the
// server over max_clients. Each is also a handshake that ended with server_full.
TEST(Metrics, RefusalsAtTheHelloAreCounted) {
  ServerProcess server;
  auto cfg = metrics_config(server);
  cfg["limits"]["max_clients"] = 2;
  cfg["limits"]["max_sessions_per_source"] = 1;
  ASSERT_TRUE(server.start(cfg));
  const std::uint16_t mport = metrics_port(server);

  TestClient a, same_source, c, over;
  ASSERT_TRUE(a.open(server.port(), {}, {.source_address = "127.0.0.1"}));
  ASSERT_TRUE(same_source.connect(server.port(), {.source_address = "127.0.0.1"}));
  auto refused = same_source.handshake();
  ASSERT_TRUE(refused.failure.has_value()) << refused.what;
  EXPECT_EQ(refused.failure->code, StatusCode::server_full);
  ASSERT_TRUE(c.open(server.port(), {}, {.source_address = "127.0.0.2"}));
  ASSERT_TRUE(over.connect(server.port(), {.source_address = "127.0.0.3"}));
  refused = over.handshake();
  ASSERT_TRUE(refused.failure.has_value()) << refused.what;
  EXPECT_EQ(refused.failure->code, StatusCode::server_full);

  const PromText p = scrape(mport);
  EXPECT_EQ(value_of(p, "parley_admission_refusals_total", {{"reason", "source_sessions"}}), 1);
  EXPECT_EQ(value_of(p, "parley_admission_refusals_total", {{"reason", "server_full"}}), 1);
  EXPECT_EQ(value_of(p, "parley_admission_refusals_total", {{"reason", "source_pending"}}), 0);
  EXPECT_EQ(value_of(p, "parley_handshakes_total", {{"result", "server_full"}, {"suite", "none"}}),
            2);
  EXPECT_EQ(value_of(p, "parley_handshakes_total", {{"result", "ok"}, {"suite", "AES-256-GCM"}}),
            2);
  EXPECT_EQ(value_of(p, "parley_handshake_duration_seconds_count"), 2);
  EXPECT_EQ(value_of(p, "parley_sessions", {{"state", "established"}}), 2);
  EXPECT_EQ(value_of(p, "parley_connections_accepted_total"), 4);
}

// Debian's promtool agrees with the strict reader: the exposition is valid and lint-clean.
TEST(Metrics, PromtoolChecksTheScrape) {
  ServerProcess server;
  ASSERT_TRUE(server.start(metrics_config(server)));
  const std::uint16_t mport = metrics_port(server);
  TestClient a;
  ASSERT_TRUE(a.open(server.port()));
  std::string body;
  const PromText parsed = scrape(mport, &body);
  // The in-repo check always runs, so this test never passes on an empty page.
  ASSERT_TRUE(parsed.ok());
  EXPECT_GE(parsed.families.size(), 15u);
  for (const char* family :
       {"parley_sessions", "parley_handshakes_total", "parley_handshake_duration_seconds",
        "parley_admission_refusals_total", "parley_messages_relayed_total",
        "parley_received_bytes_total", "parley_sent_bytes_total", "parley_slow_consumers_total",
        "parley_rate_limited_requests_total", "parley_rooms", "parley_history_messages",
        "parley_history_bytes", "parley_event_loop_lag_seconds", "process_cpu_seconds_total",
        "process_resident_memory_bytes"})
    EXPECT_NE(parsed.family(family), nullptr) << family;

  const std::string promtool = on_path("promtool");
  if (promtool.empty())
    GTEST_SKIP() << "promtool not installed (Debian: apt-get install prometheus); the strict "
                    "in-repo reader accepted the scrape";
  const std::string page = server.dir().write("scrape.txt", body);
  const std::string out = server.dir().file("promtool.out");
  const std::string command =
      "timeout 60 " + promtool + " check metrics < " + page + " > " + out + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(out);
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << command;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "promtool check metrics:\n" << said << "\n" << body;
  EXPECT_EQ(said, "") << "promtool found lint problems";
}

// Only GET /metrics is served; every connection is closed after its one response, and what a
// scraper cannot send (a body, a huge header, garbage) gets no page at all.
TEST(Metrics, OnlyGetMetrics) {
  ServerProcess server;
  ASSERT_TRUE(server.start(metrics_config(server)));
  const std::uint16_t mport = metrics_port(server);

  auto post = http(mport, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET");
  EXPECT_EQ(post.headers["connection"], "close");
  EXPECT_TRUE(post.closed);
  EXPECT_EQ(http(mport, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 405);
  EXPECT_EQ(http(mport, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 405);

  auto other = http(mport, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(other.status, 404);
  EXPECT_TRUE(other.closed);
  EXPECT_EQ(http(mport, "GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(http(mport, "GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(http(mport, "POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").status,
            404);

  // What Prometheus may send (a query string from `params`), and HTTP/1.0.
  auto query = http(mport, "GET /metrics?module=parley HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(query.status, 200);
  EXPECT_TRUE(parse_prom_text(query.body).ok());
  auto old = http(mport, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.status, 200);
  EXPECT_TRUE(parse_prom_text(old.body).ok());

  // No page for what is not a plain GET: a body, a header past the cap, garbage.
  auto with_body =
      http(mport, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(with_body.status, 0) << with_body.body;
  EXPECT_TRUE(with_body.closed);
  const std::string huge =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(16384, 'p') + "\r\n\r\n";
  auto too_big = http(mport, huge);
  EXPECT_EQ(too_big.status, 0);
  EXPECT_TRUE(too_big.closed);
  auto garbage = http(mport, "\x16\x03\x01 not http at all\r\n\r\n");
  EXPECT_EQ(garbage.status, 0);
  EXPECT_TRUE(garbage.closed);

  // After all that, the endpoint and the server still serve.
  (void)scrape(mport);
  TestClient a;
  EXPECT_TRUE(a.open(server.port()));
  EXPECT_TRUE(server.events("internal_error").empty()) << server.log_text();
}

// A scraper that sends half a request and stalls is closed at the read deadline, holding
// nothing but its socket meanwhile; a normal scrape is served in the meantime.
TEST(Metrics, AStalledScraperIsClosedAtTheDeadline) {
  ServerProcess server;
  ASSERT_TRUE(server.start(metrics_config(server)));
  const std::uint16_t mport = metrics_port(server);

  RawConnection stalled;
  ASSERT_TRUE(stalled.connect(mport));
  const auto opened = Clock::now();
  ASSERT_TRUE(stalled.send("GET /metr"));

  // Served at once, while the other waits.
  const auto scrape_start = Clock::now();
  (void)scrape(mport);
  EXPECT_LT(Clock::now() - scrape_start, milliseconds(1000 * kSlowdown));
  TestClient a;
  ASSERT_TRUE(a.open(server.port()));

  ASSERT_TRUE(stalled.read_to_eof(kScrapeDeadline + milliseconds(3000 * kSlowdown)))
      << "the stalled scraper was not closed";
  const auto held = Clock::now() - opened;
  EXPECT_GE(held, kScrapeDeadline - 100ms);
  EXPECT_LT(held, kScrapeDeadline + milliseconds(2000 * kSlowdown));
  EXPECT_EQ(stalled.received(), "") << "a half request got an answer";
  a.expect_alive();  // the loop was never held
}

// At most kMaxScrapers connections are served at once; the next is closed at accept, while those
// already in are still waiting for their requests. Once they are gone, scrapes work again.
TEST(Metrics, ScrapersBeyondTheLimitAreClosed) {
  ServerProcess server;
  ASSERT_TRUE(server.start(metrics_config(server)));
  const std::uint16_t mport = metrics_port(server);

  std::vector<std::unique_ptr<RawConnection>> held;
  for (std::size_t i = 0; i < kMaxScrapers; ++i) {
    held.push_back(std::make_unique<RawConnection>());
    ASSERT_TRUE(held.back()->connect(mport));
    ASSERT_TRUE(held.back()->send("GET"));
  }
  // Until the server has accepted all four, a fifth may still find a free place: retry until it
  // is turned away (well inside the four's deadline).
  bool turned_away = false;
  for (auto until = Clock::now() + 1s; !turned_away && Clock::now() < until;) {
    RawConnection extra;
    ASSERT_TRUE(extra.connect(mport));
    extra.send(kGetMetrics);
    turned_away = extra.read_to_eof(kDefaultTimeout) && extra.received().empty();
  }
  EXPECT_TRUE(turned_away) << "a fifth scraper was served";
  for (auto& h : held)
    EXPECT_FALSE(h->read_to_eof(0ms)) << "a waiting scraper was closed early";

  held.clear();  // the server sees their EOF and lets them go
  bool served = false;
  for (auto until = Clock::now() + 2s; !served && Clock::now() < until;) {
    served = http(mport, kGetMetrics).status == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

// A member that stops reading while its room is busy is counted as a slow consumer.
TEST(Metrics, SlowConsumerIsCounted) {
  ServerProcess server;
  auto cfg = metrics_config(server);
  cfg["limits"]["outbox_bytes"] = 65536;
  cfg["limits"]["max_frame"] = 16384;
  cfg["limits"]["send_buffer_bytes"] = 4096;
  cfg["limits"]["write_deadline_ms"] = 300000;  // only the outbox budget can close it
  cfg["limits"]["rate"] = 1000;
  cfg["limits"]["burst"] = 1000;
  ASSERT_TRUE(server.start(cfg));
  const std::uint16_t mport = metrics_port(server);
  TestClient sender, sluggard;
  ASSERT_TRUE(sender.open(server.port()));
  ASSERT_TRUE(sluggard.open(server.port(), {}, ConnectOptions{4096}));
  for (TestClient* c : {&sluggard, &sender}) {
    ASSERT_TRUE(c->send(req::Join{"flood"}, RequestId{std::int64_t{1}}));
    (void)c->wait_for<evt::Ack>();
  }
  const std::string text(4096, 'z');
  std::optional<nlohmann::json> slow;
  for (int sent = 0; !slow && sent < 200; ++sent) {
    ASSERT_TRUE(sender.send(req::Say{"flood", text}));
    while (sender.next_event(0ms)) {
    }
    slow = server.wait_for_event("slow_consumer", 20ms);
  }
  ASSERT_TRUE(slow) << "no slow consumer";
  const PromText p = scrape(mport);
  EXPECT_EQ(value_of(p, "parley_slow_consumers_total", {{"kind", "outbox_full"}}), 1);
  EXPECT_EQ(value_of(p, "parley_slow_consumers_total", {{"kind", "write_stalled"}}), 0);
  EXPECT_GE(value_of(p, "parley_messages_relayed_total"), 1);
}

// Off unless configured; a reload cannot turn it on (it needs a restart, and says so).
TEST(Metrics, OffByDefaultAndReloadNeedsARestart) {
  ServerProcess server;
  ASSERT_TRUE(server.start(server.default_config()));
  auto with_metrics = metrics_config(server);
  server.write_config(with_metrics);
  server.signal(SIGHUP);
  const auto reload = server.wait_for_event("reload");
  ASSERT_TRUE(reload.has_value());
  EXPECT_TRUE(reload->value("ok", false)) << *reload;
  EXPECT_EQ(reload->at("need_restart"), nlohmann::json::array({"metrics"})) << *reload;
  TestClient a;
  ASSERT_TRUE(a.open(server.port()));  // a turn of the loop after the reload
  EXPECT_TRUE(server.events("metrics_listening").empty());
}

// A bad endpoint is a configuration error, named by its path; one that cannot be bound fails the
// start with its address.
TEST(Metrics, BadEndpointIsAConfigError) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["metrics"] = {{"listen", "localhost:9477"}};
  const std::string path = server.dir().write("bad.json", cfg.dump());
  const auto checked = ServerProcess::run_check_config(path);
  EXPECT_EQ(checked.exit_code, 78);
  EXPECT_NE(checked.stderr_text.find("metrics.listen: expected \"ADDRESS:PORT\""),
            std::string::npos)
      << checked.stderr_text;

  // The port is taken (by the server's own listener, on another address spelling).
  ServerProcess first;
  ASSERT_TRUE(first.start(first.default_config()));
  ServerProcess second;
  auto clash = metrics_config(second);
  clash["metrics"]["listen"] = "127.0.0.1:" + std::to_string(first.port());
  ASSERT_TRUE(second.launch(clash));
  const auto status = second.wait_exit();
  EXPECT_TRUE(status.exited && status.code == 1) << status;
  EXPECT_NE(second.log_text().find("cannot listen for metrics on 127.0.0.1:" +
                                   std::to_string(first.port())),
            std::string::npos)
      << second.log_text();
}

}  // namespace
}  // namespace parley::it
