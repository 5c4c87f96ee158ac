// The real `parley` binary against the real `parleyd`: pipe mode, --listen, known_hosts,
// keygen and --identity, exit codes, and the interactive mode in a terminal (tmux).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "child_process.hpp"
#include "cut_proxy.hpp"
#include "harness.hpp"
#include "parley/concat.hpp"
#include "test_support.hpp"

namespace parley::it {
namespace {

// Exit codes, as `parley --help` documents them.
constexpr int kUsage = 2, kConnect = 3, kHandshake = 4, kHostKey = 5, kClosed = 6, kRefused = 7;

const std::string kParley = PARLEY_CLIENT_PATH;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A server and a private HOME for the client, so no test sees the user's known_hosts.
class ClientTest : public ::testing::Test {
 protected:
  std::map<std::string, std::string> env() const {
    return {{"HOME", home_.path()}, {"XDG_CONFIG_HOME", ""}, {"NO_COLOR", "1"}, {"TZ", "UTC"}};
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::string known_hosts() const { return home_.file(".config/parley/known_hosts"); }

  // parley with `args` then the server address, stdin = input.
  ChildResult parley(std::vector<std::string> args, std::string_view input = "",
                     milliseconds timeout = kDefaultTimeout) {
    args.insert(args.begin(), kParley);
    args.push_back(target());
    return run_child(std::move(args), input, env(), timeout);
  }

  // A member of `room` who will see what the client says.
  std::unique_ptr<TestClient> watcher(const std::string& nick, const std::string& room = "lobby",
                                      const HandshakeOptions& options = {}) {
    auto c = std::make_unique<TestClient>();
    EXPECT_TRUE(c->open(server_.port(), options));
    c->set_auto_pong(true);
    EXPECT_TRUE(c->send(req::Nick{nick}, RequestId{1}));
    c->expect<evt::Ack>();
    EXPECT_TRUE(c->send(req::Join{room}, RequestId{2}));
    c->expect<evt::Ack>();
    return c;
  }

  std::string server_fingerprint() const { return vector_server_fingerprint(); }

  // A server in keys mode that admits `fingerprint` (as "keyholder") and the vector client key,
  // and bob in the lobby, signed in with the latter.
  std::unique_ptr<TestClient> start_keys_server(const std::string& fingerprint) {
    auto cfg = server_.default_config();
    cfg["auth"] = {
        {"mode", "keys"},
        {"authorized_keys",
         server_.dir().write("authorized_keys",
                             fingerprint + " keyholder\n" + client_identity_fingerprint() + "\n")}};
    EXPECT_TRUE(server_.start(cfg));
    HandshakeOptions with_key;
    with_key.identity = client_identity_key();
    return watcher("bob", "lobby", with_key);
  }

  // `parley --listen --nick bot` with `rooms` (joined in order), once `witness`, a member of the
  // last of them, has seen it join.
  // A listener that ends with its session (--reconnect-for 0), unless `reconnect_for` says.
  std::unique_ptr<ChildProcess> start_listener(TestClient& witness,
                                               const std::vector<std::string>& rooms = {"lobby"},
                                               const std::string& reconnect_for = "0") {
    std::vector<std::string> args = {kParley, "--listen",        "--trust-new", "--nick",
                                     "bot",   "--reconnect-for", reconnect_for};
    for (const auto& room : rooms)
      args.insert(args.end(), {"--room", room});
    args.push_back(target());
    auto listen = std::make_unique<ChildProcess>(std::move(args), env());
    EXPECT_TRUE(witness.wait_for<evt::Joined>([&](const evt::Joined& j) {
      return j.nick == "bot" && j.room == rooms.back();
    })) << listen->stderr_text();
    return listen;
  }

  TempDir home_;
  ServerProcess server_;
};

// What `watcher` sees until `nick` quits: the texts of the messages and directs in between, and
// the quit (nullopt if none came in time).
struct UntilQuit {
  std::vector<std::string> texts;
  std::optional<evt::Quit> quit;
};
UntilQuit until_quit(TestClient& watcher, const std::string& nick) {
  UntilQuit out;
  for (int i = 0; i < 10000; ++i) {
    auto event = watcher.next_event();
    if (!event) break;
    if (auto* m = std::get_if<evt::Message>(&*event)) out.texts.push_back(m->text);
    if (auto* d = std::get_if<evt::Direct>(&*event)) out.texts.push_back(d->text);
    if (auto* q = std::get_if<evt::Quit>(&*event); q && q->nick == nick) {
      out.quit = *q;
      break;
    }
  }
  return out;
}

std::string numbered_lines(int n) {
  std::string text;
  for (int i = 1; i <= n; ++i)
    text += "line " + std::to_string(i) + "\n";
  return text;
}

TEST_F(ClientTest, PipeModeDeliversTenThousandLinesInOrderWithoutRateLimiting) {
  auto cfg = server_.default_config();
  cfg["limits"]["rate"] = 4000;
  cfg["limits"]["burst"] = 2000;
  // bob reads only once the client is done: his outbox holds all 10,000 lines (1.3 MB) meanwhile.
  cfg["limits"]["outbox_bytes"] = 4 * 1024 * 1024;
  // ... and his socket takes nothing for as long as the client runs (12 s under ASan): not a
  // slow consumer for this test's purpose.
  cfg["limits"]["write_deadline_ms"] = 120000;
  ASSERT_TRUE(server_.start(cfg));
  auto bob = watcher("bob");
  constexpr int kLines = 10000;
  auto run =
      parley({"--trust-new", "--nick", "alice"}, numbered_lines(kLines), milliseconds(60000));
  EXPECT_EQ(run.status.code, 0) << run.status << "\nstderr: " << run.err;
  for (int i = 1; i <= kLines; ++i) {
    auto m = bob->wait_for<evt::Message>();
    ASSERT_TRUE(m) << "message " << i << " missing";
    ASSERT_EQ(m->text, "line " + std::to_string(i));
    ASSERT_EQ(m->from, "alice");
  }
  EXPECT_TRUE(server_.events("rate_limited").empty());
}

TEST_F(ClientTest, PipeModePacesItselfToTheServersDefaultRate) {
  ASSERT_TRUE(server_.start(server_.default_config()));  // rate 10/s, burst 20
  auto bob = watcher("bob");
  constexpr int kLines = 40;  // twice the burst: only pacing gets these through
  const auto started = Clock::now();
  auto run = parley({"--trust-new"}, numbered_lines(kLines), milliseconds(30000));
  EXPECT_EQ(run.status.code, 0) << run.status << "\nstderr: " << run.err;
  EXPECT_GT(Clock::now() - started, milliseconds(1500)) << "no pacing at all?";
  for (int i = 1; i <= kLines; ++i) {
    auto m = bob->wait_for<evt::Message>();
    ASSERT_TRUE(m) << "message " << i << " missing";
    EXPECT_EQ(m->text, "line " + std::to_string(i));
  }
}

TEST_F(ClientTest, PipeModeDirectMessagesAndSkipsEmptyLines) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto bob = watcher("bob");
  auto run = parley({"--trust-new", "--to", "bob", "--nick", "carol"}, "psst\n\nsecond\r\nlast");
  EXPECT_EQ(run.status.code, 0) << run.err;
  for (const char* text : {"psst", "second", "last"}) {
    auto d = bob->wait_for<evt::Direct>();
    ASSERT_TRUE(d);
    EXPECT_EQ(d->text, text);
    EXPECT_EQ(d->from, "carol");
  }
}

TEST_F(ClientTest, PipeModeReportsRefusalsOnStderrWithTheirExitCode) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto nobody = parley({"--trust-new", "--to", "nobody"}, "hello\n");
  EXPECT_EQ(nobody.status.code, kRefused) << nobody.err;
  EXPECT_NE(nobody.err.find("line 1"), std::string::npos) << nobody.err;
  EXPECT_NE(nobody.err.find("no_such_nick"), std::string::npos) << nobody.err;

  // Over the size limit: the error names the line, and the session still ends with a quit, so
  // others never see "connection lost".
  auto bob = watcher("bob");
  auto too_long =
      parley({"--nick", "longwinded"}, "short\n" + std::string(5000, 'x') + "\nnot sent\n");
  EXPECT_EQ(too_long.status.code, kRefused) << too_long.err;
  EXPECT_NE(too_long.err.find("input line 2 is longer than the server's 4096-byte message limit"),
            std::string::npos)
      << too_long.err;
  const auto seen = until_quit(*bob, "longwinded");
  EXPECT_EQ(seen.texts, std::vector<std::string>{"short"});
  ASSERT_TRUE(seen.quit);
  EXPECT_EQ(seen.quit->reason.value_or(""), "quit");  // a quit request's, not "connection lost"
  auto taken = parley({"--nick", "bob"}, "hi\n");
  EXPECT_EQ(taken.status.code, kRefused) << taken.err;
  EXPECT_NE(taken.err.find("nick_taken"), std::string::npos) << taken.err;
}

// --stdin-message: all of stdin, lines and all, is one message (like mosquitto_pub -s); more
// than the server's limit is refused before anything is sent.
TEST_F(ClientTest, StdinMessageSendsAllOfStdinAsOneMessage) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto bob = watcher("bob");
  const std::string text = "line one\n  line two\n\nlast line ✓";
  auto run = parley({"--trust-new", "--stdin-message", "--nick", "poster"}, text + "\n");
  EXPECT_EQ(run.status.code, 0) << run.err;
  auto m = bob->wait_for<evt::Message>();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, text);  // one final newline dropped
  EXPECT_EQ(m->from, "poster");

  auto direct = parley({"--stdin-message", "--to", "bob"}, "a\nb");
  EXPECT_EQ(direct.status.code, 0) << direct.err;
  auto d = bob->wait_for<evt::Direct>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, "a\nb");

  const std::string limit(4096, 'y');
  auto at_limit = parley({"--stdin-message"}, limit + "\n");
  EXPECT_EQ(at_limit.status.code, 0) << at_limit.err;
  auto full = bob->wait_for<evt::Message>();
  ASSERT_TRUE(full);
  EXPECT_EQ(full->text, limit);

  auto too_long = parley({"--stdin-message", "--nick", "verbose"}, limit + "z");
  EXPECT_EQ(too_long.status.code, kRefused) << too_long.err;
  EXPECT_NE(too_long.err.find("standard input is longer than the server's 4096-byte message "
                              "limit; nothing was sent"),
            std::string::npos)
      << too_long.err;
  const auto seen = until_quit(*bob, "verbose");
  EXPECT_TRUE(seen.texts.empty()) << seen.texts.size() << " message(s) sent";
  ASSERT_TRUE(seen.quit);
  EXPECT_EQ(seen.quit->reason.value_or(""), "quit");  // a quit request's, not "connection lost"
}

TEST_F(ClientTest, ListenPrintsEveryMessageAsOneLineOfJson) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto alice = watcher("alice");
  auto listener = start_listener(*alice);
  ChildProcess& listen = *listener;

  // Several messages, each exactly as sent: escapes, unicode beyond the BMP, bidi and control
  // characters (escaped, never raw), and one of the server's maximum length (4096 bytes).
  const std::vector<std::string> texts = {
      "tabs\tquotes \" backslash \\ ünïcödé ✓",
      "emoji 😀 and 𝄞, CJK 漢字, RTL \u202Eevil\u202C, escape \x1b[2J, DEL \x7F",
      "plain",
      std::string(4096 - 4, 'm') + "✓!",
  };
  ASSERT_EQ(texts.back().size(), 4096u);
  std::int64_t id = 3;
  for (const auto& text : texts) {
    ASSERT_TRUE(alice->send(req::Say{"lobby", text}, RequestId{id++}));
    alice->expect<evt::Ack>();
  }
  std::vector<std::string> message_lines;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto line = listen.wait_for_line([&](const std::string& l) {
      return l.find("\"type\":\"message\"") != std::string::npos &&
             std::find(message_lines.begin(), message_lines.end(), l) == message_lines.end();
    });
    ASSERT_TRUE(line) << "message " << i << " missing: " << listen.stdout_text();
    message_lines.push_back(*line);
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string& line = message_lines[i];
    const auto json = nlohmann::json::parse(line);
    EXPECT_EQ(json["text"], texts[i]) << line;
    EXPECT_EQ(json["from"], "alice");
    // Compact, in the protocol's field order, and in ASCII: non-ASCII text arrives escaped.
    EXPECT_EQ(line, nlohmann::ordered_json::parse(line).dump(-1, ' ', /*ensure_ascii=*/true));
    EXPECT_TRUE(line.starts_with("{\"type\":\"message\",\"room\":\"lobby\",\"from\":\"alice\""))
        << line;
    EXPECT_TRUE(std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x20 && c < 0x7F; }))
        << line;
  }
  EXPECT_NE(message_lines[0].find("\\u00fc"), std::string::npos) << message_lines[0];

  const auto lines = listen.stdout_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(nlohmann::json::parse(lines.front())["type"], "welcome");
  for (const auto& l : lines) {
    const auto json = nlohmann::json::parse(l);
    EXPECT_TRUE(json.is_object()) << l;
    // The session's bookkeeping is left out (--raw prints it).
    EXPECT_NE(json["type"], "ack") << l;
    EXPECT_NE(json["type"], "ping") << l;
  }
}

// Several rooms, presence, and the end of the session as the last line; SIGINT and SIGTERM
// both leave with a quit and exit 0.
TEST_F(ClientTest, ListenTakesSeveralRoomsAndEndsWithASessionEndLine) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto alice = watcher("alice", "a");
  ASSERT_TRUE(alice->send(req::Join{"b"}, RequestId{3}));
  alice->expect<evt::Ack>();
  for (const int signo : {SIGINT, SIGTERM}) {
    auto listener = start_listener(*alice, {"a", "b"});  // in b, the last, means in both
    ChildProcess& listen = *listener;
    ASSERT_TRUE(alice->send(req::Say{"a", "in a"}, RequestId{4}));
    alice->expect<evt::Ack>();
    ASSERT_TRUE(alice->send(req::Say{"b", "in b"}, RequestId{5}));
    alice->expect<evt::Ack>();
    ASSERT_TRUE(alice->send(req::Msg{"bot", "direct"}, RequestId{6}));
    alice->expect<evt::Ack>();
    ASSERT_TRUE(listen.wait_for_line([](const std::string& l) {
      return l.find("\"text\":\"direct\"") != std::string::npos;
    })) << listen.stdout_text()
        << listen.stderr_text();
    std::vector<nlohmann::json> events;
    for (const auto& l : listen.stdout_lines())
      events.push_back(nlohmann::json::parse(l));
    const auto has = [&](const nlohmann::json& wanted) {
      return std::any_of(events.begin(), events.end(), [&](const nlohmann::json& e) {
        for (const auto& [key, value] : wanted.items())
          if (!e.contains(key) || e[key] != value) return false;
        return true;
      });
    };
    EXPECT_TRUE(has({{"type", "message"}, {"room", "a"}, {"text", "in a"}}));
    EXPECT_TRUE(has({{"type", "message"}, {"room", "b"}, {"text", "in b"}}));
    EXPECT_TRUE(has({{"type", "direct"}, {"from", "alice"}, {"text", "direct"}}));
    EXPECT_FALSE(has({{"type", "ack"}})) << listen.stdout_text();

    listen.signal(signo);
    const auto status = listen.wait_exit();
    EXPECT_TRUE(status.clean()) << status << "\n" << listen.stderr_text();
    const auto end = nlohmann::json::parse(listen.stdout_lines().back());
    EXPECT_EQ(end["type"], "session_end");
    EXPECT_EQ(end["cause"], "signal");
    EXPECT_EQ(end["exit"], 0);
    EXPECT_NE(end["message"].get<std::string>().find(signo == SIGINT ? "SIGINT" : "SIGTERM"),
              std::string::npos)
        << end;
    const auto quit =
        alice->wait_for<evt::Quit>([](const evt::Quit& q) { return q.nick == "bot"; });
    ASSERT_TRUE(quit);
    EXPECT_EQ(quit->reason.value_or(""), "quit");
  }
}

TEST_F(ClientTest, ListenRawPrintsAcksToo) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  ChildProcess listen({kParley, "--listen", "--raw", "--trust-new", target()}, env());
  auto line = listen.wait_for_line(
      [](const std::string& l) { return l.find("\"type\":\"ack\"") != std::string::npos; });
  ASSERT_TRUE(line) << listen.stdout_text() << listen.stderr_text();
  EXPECT_EQ(nlohmann::json::parse(*line)["id"], "room lobby");
  listen.signal(SIGINT);
  EXPECT_TRUE(listen.wait_exit().clean());
}

TEST_F(ClientTest, ListenExitsWithClosedWhenTheServerStops) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto bob = watcher("bob");
  auto listener = start_listener(*bob);
  ChildProcess& listen = *listener;
  server_.signal(SIGTERM);
  const auto status = listen.wait_exit();
  EXPECT_EQ(status.code, kClosed) << status;
  EXPECT_NE(listen.stderr_text().find("server shutting down"), std::string::npos)
      << listen.stderr_text();
  const auto end = nlohmann::json::parse(listen.stdout_lines().back());
  EXPECT_EQ(end["type"], "session_end");
  EXPECT_EQ(end["cause"], "closed");
  EXPECT_EQ(end["exit"], kClosed);
  EXPECT_EQ(end["code"], "normal");
}

// A killed server sends no close record: the connection was lost (3), not closed (6).
TEST_F(ClientTest, AKilledServerIsALostConnectionInListenAndPipeModes) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto bob = watcher("bob");
  auto listener = start_listener(*bob);
  ChildProcess& listen = *listener;
  ChildProcess pipe(
      {kParley, "--batch", "--trust-new", "--nick", "piper", "--reconnect-for", "0", target()},
      env());
  // The pipe's first line has reached the room (the listener printed it): it is connected.
  ASSERT_TRUE(pipe.write_stdin("first\n"));
  ASSERT_TRUE(listen.wait_for_line([](const std::string& l) {
    return l.find("\"text\":\"first\"") != std::string::npos;
  })) << listen.stdout_text()
      << pipe.stderr_text();
  server_.signal(SIGKILL);
  const auto listen_status = listen.wait_exit();
  EXPECT_EQ(listen_status.code, kConnect) << listen_status << "\n" << listen.stderr_text();
  EXPECT_NE(listen.stderr_text().find("without a close record"), std::string::npos)
      << listen.stderr_text();
  const auto end = nlohmann::json::parse(listen.stdout_lines().back());
  EXPECT_EQ(end["cause"], "lost");
  EXPECT_EQ(end["exit"], kConnect);
  const auto pipe_status = pipe.wait_exit();
  EXPECT_EQ(pipe_status.code, kConnect) << pipe_status << "\n" << pipe.stderr_text();
}

// Without reconnecting (--reconnect-for 0; PipeModeComesBackAndLosesNoLine has it on).
TEST_F(ClientTest, PipeModeExitsWithClosedWhenTheServerStops) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto bob = watcher("bob");
  ChildProcess pipe({kParley, "--batch", "--trust-new", "--reconnect-for", "0", target()}, env());
  ASSERT_TRUE(pipe.write_stdin("first\n"));
  ASSERT_TRUE(bob->wait_for<evt::Message>());
  server_.signal(SIGTERM);
  const auto status = pipe.wait_exit();
  EXPECT_EQ(status.code, kClosed) << status << "\n" << pipe.stderr_text();
  EXPECT_NE(pipe.stderr_text().find("server shutting down"), std::string::npos)
      << pipe.stderr_text();
}

// One server run's member of #lobby: what is said there, by seq, live or from the room's history
// (asked for as soon as it has joined: a client may have come back before it).
class RunWatcher {
 public:
  ::testing::AssertionResult open(std::uint16_t port) {
    if (auto opened = client_.open(port); !opened) return opened;
    client_.set_auto_pong(true);
    req::History history;
    history.room = "lobby";
    return client_.send_burst({request(req::Nick{"watch"}, std::int64_t{1}),
                               request(req::Join{"lobby"}, std::int64_t{2}),
                               request(std::move(history), std::int64_t{3})});
  }
  // Reads until `done` (true), or the session ends or `timeout` passes (false).
  bool pump(const std::function<bool()>& done, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 100000 && !done(); ++i) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left <= milliseconds::zero()) return false;
      auto event = client_.next_event(left);
      if (!event) return false;
      if (auto* m = std::get_if<evt::Message>(&*event); m && m->room == "lobby") {
        said_[m->seq] = m->text;
      } else if (auto* end = std::get_if<evt::HistoryEnd>(&*event)) {
        if (end->more) {
          req::History more;
          more.room = "lobby";
          more.after = said_.empty() ? std::nullopt : std::optional(said_.rbegin()->first);
          EXPECT_TRUE(client_.send(std::move(more), RequestId{std::int64_t{4}}));
        } else {
          history_done_ = true;
        }
      } else if (std::holds_alternative<evt::Error>(*event)) {
        ADD_FAILURE() << "watcher refused: " << evt::serialize(*event);
      }
    }
    return done();
  }
  bool saw(const std::string& text) const {
    return std::any_of(said_.begin(), said_.end(), [&](const auto& s) { return s.second == text; });
  }
  bool history_done() const { return history_done_; }
  // In the server's order.
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& [seq, text] : said_)
      out.push_back(text);
    return out;
  }

 private:
  TestClient client_;
  std::map<std::uint64_t, std::string> said_;
  bool history_done_ = false;
};

// Bytes that arrived at 127.0.0.1:port and wait unread on established connections: what a
// stopped server has been sent and not yet taken.
std::size_t unread_at(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  std::size_t total = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues;
    fields >> slot >> local >> remote >> state >> queues;
    const auto port_at = local.find(':');
    const auto rx_at = queues.find(':');
    if (port_at == std::string::npos || rx_at == std::string::npos || state != "01") continue;
    if (std::stoul(local.substr(port_at + 1), nullptr, 16) != port) continue;
    total += std::stoul(queues.substr(rx_at + 1), nullptr, 16);
  }
  return total;
}

std::string lines_from(int first, int last) {
  std::string text;
  for (int i = first; i <= last; ++i)
    text += "line " + std::to_string(i) + "\n";
  return text;
}

// Issue 18 item 5: pipe mode comes back. parleyd is stopped (SIGTERM: goaway, then its close)
// while `parley` pipes lines into #lobby and started again with the same key and port; then it
// is frozen with lines on their way (sent, never acknowledged) and killed (no close record), and
// started once more. The pipe comes back each time, sends again what was not acknowledged and
// reads on: every line arrives, at least once, in order of first arrival, and it exits 0.
TEST_F(ClientTest, PipeModeComesBackAndLosesNoLine) {
  auto cfg = server_.default_config();
  ASSERT_TRUE(server_.start(cfg));
  cfg["listen"][0]["port"] = server_.port();  // the next runs: the same port and key
  const milliseconds back_within{45000};      // backoff tops out at 30 s
  std::vector<std::string> arrived;           // over all runs, each run in its server's order

  RunWatcher first;
  ASSERT_TRUE(first.open(server_.port()));
  ChildProcess pipe(
      {kParley, "--batch", "--trust-new", "--nick", "piper", "--reconnect-for", "60", target()},
      env());
  ASSERT_TRUE(pipe.write_stdin(lines_from(1, 20)));
  ASSERT_TRUE(
      first.pump([&] { return first.history_done() && first.saw("line 5"); }, kDefaultTimeout))
      << pipe.stderr_text();
  server_.signal(SIGTERM);
  ASSERT_TRUE(pipe.write_stdin(lines_from(21, 30)));  // read on whenever it is back
  first.pump([] { return false; }, kDefaultTimeout);  // until the server's close
  ASSERT_EQ(server_.wait_exit().code, 0);
  std::ranges::copy(first.texts(), std::back_inserter(arrived));

  ServerProcess second;
  ASSERT_TRUE(second.start(cfg));
  RunWatcher watching_second;
  ASSERT_TRUE(watching_second.open(second.port()));
  ASSERT_TRUE(pipe.write_stdin(lines_from(31, 40)));
  ASSERT_TRUE(watching_second.pump(
      [&] { return watching_second.history_done() && watching_second.saw("line 40"); },
      back_within))
      << pipe.stderr_text();
  // Frozen: the next lines are sent (they wait in its socket) and never acknowledged.
  ASSERT_EQ(::kill(second.pid(), SIGSTOP), 0);
  ASSERT_TRUE(pipe.write_stdin(lines_from(41, 50)));
  const auto deadline = Clock::now() + kDefaultTimeout;
  while (unread_at(second.port()) == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));  // /proc has no "tell me": poll, bounded
  ASSERT_GT(unread_at(second.port()), 0u) << "the pipe sent nothing to the stopped server";
  second.signal(SIGKILL);
  second.wait_exit();
  watching_second.pump([] { return false; }, kDefaultTimeout);  // what it had, until the end
  std::ranges::copy(watching_second.texts(), std::back_inserter(arrived));

  ServerProcess third;
  ASSERT_TRUE(third.start(cfg));
  RunWatcher watching_third;
  ASSERT_TRUE(watching_third.open(third.port()));
  ASSERT_TRUE(pipe.write_stdin(lines_from(51, 60)));
  pipe.close_stdin();
  const auto status = pipe.wait_exit(back_within);
  EXPECT_EQ(status.code, 0) << status << "\n" << pipe.stderr_text();
  ASSERT_TRUE(watching_third.pump(
      [&] { return watching_third.history_done() && watching_third.saw("line 60"); },
      kDefaultTimeout));
  std::ranges::copy(watching_third.texts(), std::back_inserter(arrived));

  // Every line at least once, in the order first seen; duplicates only of lines resent.
  std::vector<std::string> first_seen;
  std::set<std::string> seen;
  for (const auto& text : arrived)
    if (seen.insert(text).second) first_seen.push_back(text);
  std::vector<std::string> expected;
  for (int i = 1; i <= 60; ++i)
    expected.push_back("line " + std::to_string(i));
  EXPECT_EQ(first_seen, expected) << pipe.stderr_text();
  // Lines 41.. were sent to the frozen server: at least one went again after the kill.
  const std::string err = pipe.stderr_text();
  const auto second_back = err.find("reconnected; ", err.find("reconnected; ") + 1);
  ASSERT_NE(second_back, std::string::npos) << err;
  EXPECT_NE(err.compare(second_back, 15, "reconnected; 0 "), 0) << err;
}

// PROTOCOL.md 6.9 from the client's side: a listener signed in with the key that owns
// "keyholder" loses its connection without the server noticing (the proxy cuts it: the old
// session stays, a ghost). It comes back, takes its nick back with takeover (without --nick: the
// nick its key was given), and the ghost is closed with code 11.
TEST_F(ClientTest, AKeyTakesItsNickBackFromItsGhost) {
  auto cfg = server_.default_config();
  cfg["auth"]["authorized_keys"] =
      server_.dir().write("authorized_keys", client_identity_fingerprint() + " keyholder\n");
  ASSERT_TRUE(server_.start(cfg));
  CutProxy proxy(server_.port());
  auto bob = watcher("bob");
  const std::string key = home_.write(
      "identity.pem",
      test::vectors("handshake.json")["client_auth"]["identity_key"]["private_key_pkcs8_pem"]
          .get<std::string>());
  ChildProcess listen({kParley, "--listen", "--trust-new", "--identity", key, "--reconnect-for",
                       "60", "127.0.0.1:" + std::to_string(proxy.port())},
                      env());
  ASSERT_TRUE(bob->wait_for<evt::Joined>(
      [](const evt::Joined& j) { return j.nick == "keyholder" && j.room == "lobby"; },
      milliseconds(15000)))
      << listen.stderr_text();

  const auto mark = server_.log_mark();
  proxy.cut_clients();
  // Its room sees the ghost go (replaced), then the listener come back under the same nick.
  auto quit = bob->wait_for<evt::Quit>([](const evt::Quit& q) { return q.nick == "keyholder"; },
                                       milliseconds(45000));
  ASSERT_TRUE(quit) << listen.stdout_text() << listen.stderr_text();
  EXPECT_EQ(quit->reason.value_or(""), "replaced");
  ASSERT_TRUE(bob->wait_for<evt::Joined>([](const evt::Joined& j) {
    return j.nick == "keyholder" && j.room == "lobby";
  })) << listen.stdout_text();
  EXPECT_TRUE(server_.wait_for_log(
      [](const nlohmann::json& j) {
        return j.value("event", "") == "session_close" && j.value("code", "") == "replaced";
      },
      kDefaultTimeout, mark))
      << server_.log_text();
  EXPECT_EQ(proxy.accepted(), 2u);

  ASSERT_TRUE(bob->send(req::Say{"lobby", "welcome back"}, RequestId{7}));
  ASSERT_TRUE(listen.wait_for_line([](const std::string& l) {
    return l.find("\"text\":\"welcome back\"") != std::string::npos;
  })) << listen.stdout_text();
  bool reconnecting = false;
  for (const auto& line : listen.stdout_lines())
    if (nlohmann::json::parse(line)["type"] == "reconnecting") reconnecting = true;
  EXPECT_TRUE(reconnecting) << listen.stdout_text();
  listen.signal(SIGINT);
  EXPECT_TRUE(listen.wait_exit().clean()) << listen.stderr_text();
}

// SIGINT and SIGTERM in pipe mode: what was sent is reported, the session ends with a quit
// ("interrupted"), and the exit status is 130.
TEST_F(ClientTest, PipeModeLeavesPolitelyOnSigintAndSigterm) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto bob = watcher("bob");
  for (const int signo : {SIGINT, SIGTERM}) {
    ChildProcess pipe({kParley, "--batch", "--trust-new", "--nick", "piper", target()}, env());
    ASSERT_TRUE(pipe.write_stdin("one\ntwo\n"));
    for (const char* text : {"one", "two"}) {
      auto m = bob->wait_for<evt::Message>();
      ASSERT_TRUE(m);
      EXPECT_EQ(m->text, text);
    }
    pipe.signal(signo);
    const auto status = pipe.wait_exit();
    EXPECT_EQ(status.code, 130) << status << "\n" << pipe.stderr_text();
    EXPECT_NE(pipe.stderr_text().find("2 line(s) sent, 2 acknowledged"), std::string::npos)
        << pipe.stderr_text();
    auto quit = bob->wait_for<evt::Quit>([](const evt::Quit& q) { return q.nick == "piper"; });
    ASSERT_TRUE(quit);
    EXPECT_EQ(quit->reason.value_or(""), "interrupted");
  }
}

TEST_F(ClientTest, KnownHostsNewRecordedMatchingChanged) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  const std::string fp = server_fingerprint();

  // New, nobody to ask, no flag: refused, nothing recorded.
  auto unknown = parley({}, "hi\n");
  EXPECT_EQ(unknown.status.code, kHandshake) << unknown.err;
  EXPECT_NE(unknown.err.find("--trust-new"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find(fp), std::string::npos) << unknown.err;
  EXPECT_FALSE(std::filesystem::exists(known_hosts()));

  // --trust-new records it as OpenSSH would name the host.
  auto first = parley({"--trust-new"}, "hi\n");
  EXPECT_EQ(first.status.code, 0) << first.err;
  EXPECT_EQ(read_file(known_hosts()), target() + " " + fp + "\n");
  struct stat st {};
  ASSERT_EQ(::stat(known_hosts().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Recorded and matching: no flag needed, nothing appended.
  auto again = parley({}, "hi\n");
  EXPECT_EQ(again.status.code, 0) << again.err;
  EXPECT_EQ(read_file(known_hosts()), target() + " " + fp + "\n");

  // Changed: a loud warning naming both keys, the file and the line; refused whatever the
  // flags, and the file is left alone.
  const std::string old_fp = "SHA256:" + std::string(43, 'A');
  const std::string changed = "# pinned by hand\n" + target() + " " + old_fp + "\n";
  { std::ofstream(known_hosts()) << changed; }
  for (std::vector<std::string> flags : {std::vector<std::string>{}, {"--trust-new"}}) {
    const auto mark = server_.log_mark();
    auto refused = parley(flags, "hi\n");
    // The server sees a client leave without a word after its ServerHello, and says so.
    auto left = server_.wait_for_event("handshake_failed", kDefaultTimeout, mark);
    ASSERT_TRUE(left);
    EXPECT_EQ(left->value("reason", ""),
              "client closed after the ServerHello (did it refuse the server's key?)")
        << *left;
    EXPECT_EQ(refused.status.code, kHostKey) << refused.err;
    EXPECT_NE(refused.err.find("HAS CHANGED"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find(old_fp), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find(fp), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find(known_hosts() + " line 2"), std::string::npos) << refused.err;
  }
  EXPECT_EQ(read_file(known_hosts()), changed);

  // Only an explicit --fingerprint of exactly the new key lets it through (PROTOCOL.md 2.4).
  auto wrong_pin = parley({"--fingerprint", old_fp}, "hi\n");
  EXPECT_EQ(wrong_pin.status.code, kHostKey) << wrong_pin.err;
  EXPECT_EQ(read_file(known_hosts()), changed);
  // It replaces the old key, and says so; the next plain connect needs no flag.
  auto pinned = parley({"--fingerprint", fp}, "hi\n");
  EXPECT_EQ(pinned.status.code, 0) << pinned.err;
  EXPECT_NE(pinned.err.find("removed the old key of " + target() + " (" + old_fp + ", line 2 of " +
                            known_hosts() + ")"),
            std::string::npos)
      << pinned.err;
  EXPECT_NE(pinned.err.find("recorded " + target() + " " + fp), std::string::npos) << pinned.err;
  EXPECT_EQ(read_file(known_hosts()), "# pinned by hand\n" + target() + " " + fp + "\n");
  auto plain = parley({}, "hi\n");
  EXPECT_EQ(plain.status.code, 0) << plain.err;
}

// The ssh-keygen -R of parley: list what is recorded, remove a host's keys.
TEST_F(ClientTest, KnownHostsListAndRemove) {
  const auto known_hosts_cmd = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kParley, "known-hosts"});
    return run_child(std::move(args), "", env());
  };
  auto empty = known_hosts_cmd({"list"});
  EXPECT_EQ(empty.status.code, 0) << empty.err;
  EXPECT_EQ(empty.out, "");

  const std::string fp1 = "SHA256:" + std::string(43, 'A');
  const std::string fp2 = "SHA256:" + std::string(43, 'B');
  std::filesystem::create_directories(home_.file(".config/parley"));
  {
    std::ofstream(known_hosts()) << "# note\nchat.example.org:7777 " << fp1 << "\n[::1]:7000 "
                                 << fp2 << "\nbroken line\nchat.example.org:7777 " << fp2 << "\n";
  }
  auto listed = known_hosts_cmd({"list"});
  EXPECT_EQ(listed.status.code, 0) << listed.err;
  EXPECT_EQ(listed.out, "chat.example.org:7777 " + fp1 + "\n[::1]:7000 " + fp2 +
                            "\nchat.example.org:7777 " + fp2 + "\n");
  EXPECT_NE(listed.err.find("1 malformed line(s)"), std::string::npos) << listed.err;

  // HOST means HOST:7777, as on the command line; names are matched case-insensitively.
  auto removed = known_hosts_cmd({"remove", "Chat.Example.org"});
  EXPECT_EQ(removed.status.code, 0) << removed.err;
  EXPECT_NE(removed.err.find("removed chat.example.org:7777 " + fp1 + " (line 2 of " +
                             known_hosts() + ")"),
            std::string::npos)
      << removed.err;
  EXPECT_NE(removed.err.find("line 5"), std::string::npos) << removed.err;
  EXPECT_EQ(read_file(known_hosts()), "# note\n[::1]:7000 " + fp2 + "\nbroken line\n");

  auto absent = known_hosts_cmd({"remove", "chat.example.org"});
  EXPECT_EQ(absent.status.code, 0) << absent.err;
  EXPECT_NE(absent.err.find("is not in"), std::string::npos) << absent.err;

  // --known-hosts names another file, before or after the subcommand.
  const std::string other = home_.file("other_hosts");
  { std::ofstream(other) << "[::1]:7000 " << fp1 << "\n"; }
  auto v6 = run_child({kParley, "--known-hosts", other, "known-hosts", "remove", "[::1]:7000"}, "",
                      env());
  EXPECT_EQ(v6.status.code, 0) << v6.err;
  EXPECT_EQ(read_file(other), "");
  auto after = known_hosts_cmd({"list", "--known-hosts", other});
  EXPECT_EQ(after.status.code, 0) << after.err;
  EXPECT_EQ(after.out, "");
  EXPECT_EQ(read_file(known_hosts()), "# note\n[::1]:7000 " + fp2 + "\nbroken line\n");

  EXPECT_EQ(known_hosts_cmd({"remove"}).status.code, kUsage);
  EXPECT_EQ(known_hosts_cmd({"remove", "[::1"}).status.code, kUsage);
  EXPECT_EQ(known_hosts_cmd({}).status.code, kUsage);
}

TEST_F(ClientTest, KnownHostsOptionAndIpv6Naming) {
  {
    // Skipped only where ::1 cannot be bound at all; anywhere else the server must start.
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io);
    boost::system::error_code ec;
    probe.open(boost::asio::ip::tcp::v6(), ec);
    if (!ec) probe.bind({boost::asio::ip::make_address("::1"), 0}, ec);
    if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();  // printed, not silent
  }
  auto cfg = server_.default_config();
  cfg["listen"] = nlohmann::json::array({{{"address", "::1"}, {"port", 0}}});
  ASSERT_TRUE(server_.start(cfg));
  const std::string file = home_.file("elsewhere/hosts");
  const std::string v6 = "[::1]:" + std::to_string(server_.port());
  auto run = run_child({kParley, "--known-hosts", file, "--trust-new", v6}, "hi\n", env());
  EXPECT_EQ(run.status.code, 0) << run.err;
  EXPECT_EQ(read_file(file), v6 + " " + server_fingerprint() + "\n");
}

TEST_F(ClientTest, KeygenAndIdentityGetIntoAKeysModeServer) {
  const std::string key = home_.file("id/parley.pem");
  auto made = run_child({kParley, "keygen", "--bits", "2048", key}, "", env(), milliseconds(30000));
  ASSERT_EQ(made.status.code, 0) << made.err;
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string fp = made.out.substr(0, made.out.find(' '));
  ASSERT_EQ(fp.size(), 7u + 43u) << made.out;

  // Never overwrites.
  const std::string pem = read_file(key);
  auto again =
      run_child({kParley, "keygen", "--bits", "2048", key}, "", env(), milliseconds(30000));
  EXPECT_EQ(again.status.code, kUsage) << again.err;
  EXPECT_EQ(read_file(key), pem);

  auto bob = start_keys_server(fp);
  auto anonymous = parley({"--trust-new"}, "hi\n");
  EXPECT_EQ(anonymous.status.code, kHandshake) << anonymous.err;
  // Not only auth_failed: what the server wants, and how to get it.
  EXPECT_NE(anonymous.err.find("admits only authorized keys"), std::string::npos) << anonymous.err;
  EXPECT_NE(anonymous.err.find("parley keygen"), std::string::npos) << anonymous.err;

  auto signed_in = parley({"--identity", key}, "hello from a key\n");
  EXPECT_EQ(signed_in.status.code, 0) << signed_in.err;
  auto m = bob->wait_for<evt::Message>();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->from, "keyholder");  // the key's reserved nick
  EXPECT_EQ(m->text, "hello from a key");

  ::chmod(key.c_str(), 0644);
  auto too_open = parley({"--identity", key}, "x\n");
  EXPECT_EQ(too_open.status.code, kUsage) << too_open.err;
}

// Like ssh's ~/.ssh/id_*: `parley keygen` writes ~/.config/parley/identity.pem, which parley
// then uses by itself; --identity none stays anonymous.
TEST_F(ClientTest, TheDefaultIdentityIsUsedWhenPresent) {
  auto made = run_child({kParley, "keygen", "--bits", "2048"}, "", env(), milliseconds(30000));
  ASSERT_EQ(made.status.code, 0) << made.err;
  const std::string key = home_.file(".config/parley/identity.pem");
  EXPECT_EQ(made.out.substr(made.out.find(' ') + 2), key + "\n") << made.out;
  EXPECT_NE(made.err.find("uses this key by itself"), std::string::npos) << made.err;
  const std::string fp = made.out.substr(0, made.out.find(' '));

  auto bob = start_keys_server(fp);
  auto signed_in = parley({"--trust-new", "--verbose"}, "by default\n");
  EXPECT_EQ(signed_in.status.code, 0) << signed_in.err;
  EXPECT_NE(signed_in.err.find("signing in with the key " + fp), std::string::npos)
      << signed_in.err;
  auto m = bob->wait_for<evt::Message>();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->from, "keyholder");

  auto anonymous = parley({"--identity", "none"}, "x\n");
  EXPECT_EQ(anonymous.status.code, kHandshake) << anonymous.err;
  EXPECT_NE(anonymous.err.find("admits only authorized keys"), std::string::npos) << anonymous.err;

  // A key the server does not list: the advice names it.
  const std::string stranger = home_.file("stranger.pem");
  ASSERT_EQ(
      run_child({kParley, "keygen", "--bits", "2048", stranger}, "", env(), milliseconds(30000))
          .status.code,
      0);
  auto refused = parley({"--identity", stranger}, "x\n");
  EXPECT_EQ(refused.status.code, kHandshake) << refused.err;
  EXPECT_NE(refused.err.find("does not accept our key SHA256:"), std::string::npos) << refused.err;
}

// --connect-timeout covers the handshake too: a server that accepts and then says nothing is
// given up on within the timeout (plus a margin for a slow machine), not the old fixed 15 s.
TEST_F(ClientTest, ConnectTimeoutCoversASilentServer) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  // The kernel completes the TCP handshake for the listen backlog; accept it too, say nothing.
  boost::asio::ip::tcp::socket accepted(io);
  silent.async_accept(accepted, [](const boost::system::error_code&) {});
  std::thread acceptor_thread([&] { io.run_for(std::chrono::seconds(30)); });
  const auto started = Clock::now();
  auto run = run_child({kParley, "--connect-timeout", "2", "--trust-new",
                        "127.0.0.1:" + std::to_string(silent.local_endpoint().port())},
                       "hi\n", env(), milliseconds(30000));
  const auto took = Clock::now() - started;
  io.stop();
  acceptor_thread.join();
  EXPECT_EQ(run.status.code, kHandshake) << run.status << "\n" << run.err;
  EXPECT_NE(run.err.find("--connect-timeout"), std::string::npos) << run.err;
  EXPECT_LT(took, std::chrono::seconds(2 + 5 * kSlowdown)) << run.err;
}

TEST_F(ClientTest, UsageAndConnectionErrorsHaveTheirExitCodes) {
  const std::vector<std::vector<std::string>> usage = {
      {kParley},
      {kParley, "--bogus", "localhost"},
      {kParley, "localhost:99999"},
      {kParley, "[::1"},
      {kParley, "--nick", "no spaces", "localhost"},
      {kParley, "--fingerprint", "MD5:xx", "localhost"},
      {kParley, "--suite", "ROT13", "localhost"},
      {kParley, "--listen", "--to", "bob", "localhost"},
      {kParley, "--listen", "--stdin-message", "localhost"},
      {kParley, "--room", "a", "--room", "b", "--batch", "localhost"},
      {kParley, "--raw", "localhost"},
      {kParley, "--room", "bad room", "--listen", "localhost"},
  };
  for (const auto& args : usage) {
    auto run = run_child(args, "", env());
    EXPECT_EQ(run.status.code, kUsage) << args.back() << ": " << run.err;
    EXPECT_FALSE(run.err.empty());
  }
  // A port nobody listens on: bind one, learn its number, close it.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe.local_endpoint().port();
  probe.close();
  auto refused = run_child({kParley, "127.0.0.1:" + std::to_string(port)}, "", env());
  EXPECT_EQ(refused.status.code, kConnect) << refused.err;
  EXPECT_NE(refused.err.find("cannot connect"), std::string::npos) << refused.err;

  auto help = run_child({kParley, "--help"}, "", env());
  EXPECT_EQ(help.status.code, 0);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos);
  // One usage line, and it comes first.
  EXPECT_TRUE(help.out.starts_with("Usage: parley [OPTIONS]")) << help.out;
  std::string lower = help.out;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_EQ(lower.find("usage:"), lower.rfind("usage:")) << help.out;
}

// ---- Interactive mode, in a real terminal -------------------------------------------------

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/bin", "/usr/local/bin"}) {
    const std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

class Tmux {
 public:
  explicit Tmux(std::string socket) : socket_(std::move(socket)), tmux_(find_program("tmux")) {}
  ~Tmux() {
    if (!tmux_.empty()) run({"kill-server"});
  }
  bool available() const { return !tmux_.empty(); }
  ChildResult run(std::vector<std::string> args) {
    args.insert(args.begin(), {tmux_, "-S", socket_, "-f", "/dev/null"});
    return run_child(std::move(args), "", {});
  }
  // Runs `command` in a 100x30 session named "parley"; after it exits the shell prints
  // parley-exit=CODE and keeps the pane on screen.
  ::testing::AssertionResult start(const std::string& command) {
    auto started = run({"new-session", "-d", "-s", "parley", "-x", "100", "-y", "30",
                        command + "; echo parley-exit=$?; sleep 60"});
    if (started.status.code == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "tmux new-session: " << started.err;
  }
  // Types text (and Enter when `enter`).
  ::testing::AssertionResult type(const std::string& text, bool enter = false) {
    if (run({"send-keys", "-t", "parley", "-l", text}).status.code != 0)
      return ::testing::AssertionFailure() << "tmux send-keys failed";
    if (enter && run({"send-keys", "-t", "parley", "Enter"}).status.code != 0)
      return ::testing::AssertionFailure() << "tmux send-keys Enter failed";
    return ::testing::AssertionSuccess();
  }
  // Keys by tmux's names ("Escape", "C-r", "Home", "M-2"), one after the other.
  ::testing::AssertionResult keys(std::vector<std::string> names) {
    names.insert(names.begin(), {"send-keys", "-t", "parley"});
    if (run(std::move(names)).status.code != 0)
      return ::testing::AssertionFailure() << "tmux send-keys failed";
    return ::testing::AssertionSuccess();
  }
  // Pastes text as a terminal does (line feeds become Enter).
  ::testing::AssertionResult paste(const std::string& text) {
    if (run({"set-buffer", "-b", "p", text}).status.code != 0 ||
        run({"paste-buffer", "-b", "p", "-t", "parley"}).status.code != 0)
      return ::testing::AssertionFailure() << "tmux paste failed";
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult resize(int columns, int rows) {
    if (run({"resize-window", "-t", "parley", "-x", std::to_string(columns), "-y",
             std::to_string(rows)})
            .status.code != 0)
      return ::testing::AssertionFailure() << "tmux resize-window failed";
    return ::testing::AssertionSuccess();
  }
  // Wrapped rows joined into the lines they are.
  std::string screen() { return run({"capture-pane", "-p", "-J", "-t", "parley"}).out; }
  // Waits for `text` on the screen; returns the last screen seen.
  std::string wait_text(const std::string& text, milliseconds timeout = kDefaultTimeout) {
    return wait_screen([&](const std::string& s) { return s.find(text) != std::string::npos; },
                       timeout);
  }
  // Waits until the screen satisfies pred; returns the last screen seen.
  std::string wait_screen(const std::function<bool(const std::string&)>& pred,
                          milliseconds timeout = kDefaultTimeout) {
    const auto deadline = Clock::now() + timeout;
    std::string s;
    // tmux has no "tell me when the screen changes": poll it, bounded in count and time.
    for (int i = 0; i < 500 && Clock::now() < deadline; ++i) {
      s = screen();
      if (pred(s)) return s;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return s;
  }

 private:
  std::string socket_;
  std::string tmux_;
};

std::string last_nonempty_line(const std::string& screen) {
  std::string last;
  std::istringstream in(screen);
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(' ') != std::string::npos) last = line;
  while (!last.empty() && last.back() == ' ')
    last.pop_back();
  return last;
}

// The interactive client in a terminal, in a private HOME.
class InteractiveTest : public ClientTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmux_.available()) << "tmux is not installed (scripts/install-deps.sh installs it)";
  }
  ::testing::AssertionResult start_parley(const std::string& flags) {
    return tmux_.start("env HOME=" + home_.path() + " NO_COLOR=1 TZ=UTC TERM=xterm " + kParley +
                       " " + flags + " " + target());
  }
  Tmux tmux_{home_.file("tmux.sock")};
};

TEST_F(InteractiveTest, KeepsAHalfTypedLineWhileMessagesArrive) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  auto bob = watcher("bob");
  ASSERT_TRUE(start_parley("--trust-new --nick alice"));
  std::string screen = tmux_.wait_text("you joined #lobby", milliseconds(15000));
  ASSERT_NE(screen.find("you joined #lobby"), std::string::npos) << screen;

  // Half a line, then a message arrives while it sits there.
  ASSERT_TRUE(tmux_.type("half typed wor"));
  tmux_.wait_screen([](const std::string& s) {
    return last_nonempty_line(s).find("half typed wor") != std::string::npos;
  });
  ASSERT_TRUE(bob->send(req::Say{"lobby", "incoming while typing"}, RequestId{10}));
  ASSERT_TRUE(bob->wait_for<evt::Ack>());  // after alice's `joined`
  screen = tmux_.wait_text("<bob> incoming while typing");
  EXPECT_NE(screen.find("<bob> incoming while typing"), std::string::npos) << screen;
  // The message is above the input line, and the input line still holds the half line.
  EXPECT_EQ(last_nonempty_line(screen), "[#lobby] half typed wor") << screen;
  EXPECT_LT(screen.find("<bob> incoming while typing"), screen.rfind("half typed wor")) << screen;

  // Finish the line: bob gets all of it.
  ASSERT_TRUE(tmux_.type("ds", true));
  auto m = bob->wait_for<evt::Message>();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, "half typed words");
  EXPECT_EQ(m->from, "alice");
  screen = tmux_.wait_text("<alice> half typed words");
  EXPECT_NE(screen.find("<alice> half typed words"), std::string::npos) << screen;

  // A command and a refusal in plain words, then /quit.
  ASSERT_TRUE(tmux_.type("/msg nobody hi", true));
  screen = tmux_.wait_text("nobody has that nick");
  EXPECT_NE(screen.find("nobody has that nick"), std::string::npos) << screen;
  ASSERT_TRUE(tmux_.type("/quit bye", true));
  auto quit = bob->wait_for<evt::Quit>();
  ASSERT_TRUE(quit);
  EXPECT_EQ(quit->nick, "alice");
  EXPECT_EQ(quit->reason.value_or(""), "bye");
  screen = tmux_.wait_text("parley-exit=");
  EXPECT_NE(screen.find("parley-exit=0"), std::string::npos) << screen;
}

// A listing longer than a page (PROTOCOL.md 6.5): the client asks for the rest by itself.
TEST_F(InteractiveTest, RoomsListsEveryPage) {
  auto cfg = server_.default_config();
  cfg["limits"]["rate"] = 1000;  // the owners join their rooms in one burst
  cfg["limits"]["burst"] = 1000;
  ASSERT_TRUE(server_.start(cfg));
  // 150 rooms, more than a page of 100; the last in the server's order is "zzz-last".
  std::vector<std::unique_ptr<TestClient>> owners;
  for (int o = 0; o < 2; ++o) {
    owners.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(owners.back()->open(server_.port()));
    owners.back()->set_auto_pong(true);
    std::vector<req::Request> joins;
    for (int r = 0; r < 75; ++r)
      joins.push_back(
          request(req::Join{o == 1 && r == 74 ? "zzz-last"
                                              : concat("r", std::to_string(1000 + o * 100 + r))},
                  std::int64_t{r}));
    ASSERT_TRUE(owners.back()->send_burst(joins));
    for (int r = 0; r < 75; ++r)
      ASSERT_TRUE(owners.back()->wait_for<evt::Ack>());
  }
  ASSERT_TRUE(start_parley("--trust-new --nick alice"));
  std::string screen = tmux_.wait_text("you joined #lobby", milliseconds(15000));
  ASSERT_NE(screen.find("you joined #lobby"), std::string::npos) << screen;
  ASSERT_TRUE(tmux_.type("/rooms", true));
  screen = tmux_.wait_text("#zzz-last (1)");
  EXPECT_NE(screen.find("#zzz-last (1)"), std::string::npos) << "the second page" << screen;
  ASSERT_TRUE(tmux_.type("/quit", true));
  screen = tmux_.wait_text("parley-exit=");
  EXPECT_NE(screen.find("parley-exit=0"), std::string::npos) << screen;
}

// The question on a terminal, answered after the server has already given up on the
// handshake: the answer is recorded and the client reconnects once, silently trusted.
TEST_F(InteractiveTest, AsksAboutAnUnknownKeyAndSurvivesASlowAnswer) {
  auto cfg = server_.default_config();
  // Long enough for the client to make its key and send its hello on a slow machine (ASan, a
  // busy CI host), short enough that the test's "human" outlasts it.
  cfg["limits"]["handshake_timeout_ms"] = 1000 * kSlowdown;
  ASSERT_TRUE(server_.start(cfg));
  ASSERT_TRUE(start_parley(""));
  std::string screen = tmux_.wait_text("(yes/no)?", milliseconds(15000));
  ASSERT_NE(screen.find("(yes/no)?"), std::string::npos) << screen;
  EXPECT_NE(screen.find(server_fingerprint()), std::string::npos) << screen;
  // Answer only once the server has timed the pending handshake out.
  ASSERT_TRUE(server_.wait_for_event("handshake_failed")) << server_.log_text();
  ASSERT_TRUE(tmux_.type("yes", true));
  screen = tmux_.wait_text("you joined #lobby", milliseconds(15000));
  EXPECT_NE(screen.find("reconnecting"), std::string::npos) << screen;
  EXPECT_NE(screen.find("you joined #lobby"), std::string::npos) << screen;
  EXPECT_EQ(read_file(known_hosts()), target() + " " + server_fingerprint() + "\n");
}

TEST_F(InteractiveTest, NoMeansNotConnected) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  ASSERT_TRUE(start_parley(""));
  std::string screen = tmux_.wait_text("(yes/no)?", milliseconds(15000));
  ASSERT_NE(screen.find("(yes/no)?"), std::string::npos) << screen;
  ASSERT_TRUE(tmux_.type("no", true));
  screen = tmux_.wait_text("parley-exit=");
  EXPECT_NE(screen.find("parley-exit=4"), std::string::npos) << screen;
  EXPECT_FALSE(std::filesystem::exists(known_hosts()));
}

// Lines of the screen that contain `text`.
int lines_with(const std::string& screen, const std::string& text) {
  int n = 0;
  std::istringstream in(screen);
  for (std::string line; std::getline(in, line);)
    if (line.find(text) != std::string::npos) ++n;
  return n;
}

class InteractiveKeysTest : public InteractiveTest {
 protected:
  // alice in #lobby, bob watching there.
  void start_alice(const nlohmann::json& config, const std::string& flags = "") {
    ASSERT_TRUE(server_.start(config));
    bob_ = watcher("bob");
    ASSERT_TRUE(start_parley("--trust-new --nick alice " + flags));
    const std::string screen = tmux_.wait_text("in #lobby:", milliseconds(15000));
    ASSERT_NE(screen.find("in #lobby:"), std::string::npos) << screen;
  }
  // The input line as the user sees it: from the prompt to the end of the screen, its rows
  // put together (the editor may move to a new row rather than let the terminal wrap it).
  static std::string input_line(const std::string& screen) {
    std::vector<std::string> lines;
    std::istringstream in(screen);
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    std::size_t from = lines.size();
    while (from > 0 && !lines[from - 1].starts_with("[") && !lines[from - 1].starts_with("("))
      --from;
    if (from == 0) return {};
    std::string out;
    for (std::size_t i = from - 1; i < lines.size(); ++i)
      out += lines[i];
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    return out;
  }
  // Waits until the input line reads `line`. Blanks are not compared: one at the end of a row
  // is not told apart from the empty rest of that row.
  ::testing::AssertionResult input_reads(std::string line) {
    const auto unblanked = [](std::string s) {
      std::erase(s, ' ');
      return s;
    };
    line = unblanked(line);
    const std::string screen =
        tmux_.wait_screen([&](const std::string& s) { return unblanked(input_line(s)) == line; });
    if (unblanked(input_line(screen)) == line) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "input line is not \"" << line << "\":\n" << screen;
  }
  void quit_cleanly() {
    ASSERT_TRUE(tmux_.keys({"C-u"}));
    ASSERT_TRUE(tmux_.type("/quit", true));
    const std::string screen = tmux_.wait_text("parley-exit=");
    EXPECT_NE(screen.find("parley-exit=0"), std::string::npos) << screen;
  }
  std::unique_ptr<TestClient> bob_;
};

// Issue 14 item 1: Escape, Ctrl-R and the editing keys edit; none quits or types a '~'.
TEST_F(InteractiveKeysTest, KeysPeoplePressWithoutThinkingNeverQuit) {
  start_alice(server_.default_config());
  ASSERT_TRUE(tmux_.type("hello world", true));
  ASSERT_TRUE(bob_->wait_for<evt::Message>());
  ASSERT_TRUE(tmux_.type("middle"));
  ASSERT_TRUE(tmux_.keys({"Escape"}));  // a lone Escape: nothing
  ASSERT_TRUE(tmux_.keys({"Home"}));    // tmux sends ESC [ 1 ~
  ASSERT_TRUE(tmux_.type("<"));
  ASSERT_TRUE(tmux_.keys({"End"}));  // ESC [ 4 ~
  ASSERT_TRUE(tmux_.type(">"));
  ASSERT_TRUE(input_reads("[#lobby] <middle>"));
  ASSERT_TRUE(tmux_.keys({"PageUp", "PageDown", "IC", "Escape", "Escape"}));
  ASSERT_TRUE(tmux_.keys({"C-\\"}));  // SIGQUIT: ignored, as bash does
  // Ctrl-Left to the word's start, Delete, Ctrl-Right to its end, Backspace: as in bash.
  ASSERT_TRUE(tmux_.keys({"C-Left", "DC", "C-Right", "BSpace"}));
  ASSERT_TRUE(input_reads("[#lobby] <iddl>"));
  // Ctrl-R finds the earlier line; Ctrl-G puts back what was typed.
  ASSERT_TRUE(tmux_.keys({"C-r"}));
  ASSERT_TRUE(tmux_.type("wor"));
  ASSERT_TRUE(input_reads("(reverse-i-search)`wor': hello world"));
  ASSERT_TRUE(tmux_.keys({"C-g"}));
  ASSERT_TRUE(input_reads("[#lobby] <iddl>"));
  // Escape keeps the line found for editing; Enter sends it.
  ASSERT_TRUE(tmux_.keys({"C-r"}));
  ASSERT_TRUE(tmux_.type("hello"));
  ASSERT_TRUE(tmux_.keys({"Escape"}));
  ASSERT_TRUE(input_reads("[#lobby] hello world"));
  ASSERT_TRUE(tmux_.keys({"End"}));  // the cursor was left where the match starts
  ASSERT_TRUE(tmux_.type("!", true));
  auto m = bob_->wait_for<evt::Message>();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, "hello world!");
  // Ctrl-D with text on the line deletes; the client is still here.
  ASSERT_TRUE(tmux_.type("ab"));
  ASSERT_TRUE(tmux_.keys({"Home", "C-d"}));
  ASSERT_TRUE(input_reads("[#lobby] b"));
  const std::string screen = tmux_.screen();
  EXPECT_EQ(screen.find('~'), std::string::npos) << screen;
  EXPECT_EQ(screen.find("parley-exit="), std::string::npos) << screen;
  quit_cleanly();
}

// Item 2: a paste of 50 lines with rate 5/burst 10 reaches the room whole, in order; the
// client says how many wait.
TEST_F(InteractiveKeysTest, APasteOfFiftyLinesArrivesWhole) {
  auto cfg = server_.default_config();
  cfg["limits"]["rate"] = 10;
  cfg["limits"]["burst"] = 10;
  start_alice(cfg);
  std::string text;
  for (int i = 1; i <= 50; ++i)
    text += "pasted line " + std::to_string(i) + "\n";
  ASSERT_TRUE(tmux_.paste(text));
  const std::string screen = tmux_.wait_text("waiting to be sent");
  EXPECT_NE(screen.find("waiting to be sent"), std::string::npos) << screen;
  for (int i = 1; i <= 50; ++i) {
    auto m =
        bob_->wait_for<evt::Message>([](const evt::Message&) { return true; }, milliseconds(15000));
    ASSERT_TRUE(m) << "line " << i;
    EXPECT_EQ(m->text, "pasted line " + std::to_string(i));
  }
  EXPECT_NE(tmux_.wait_text("<alice> pasted line 50").find("<alice> pasted line 50"),
            std::string::npos);
  EXPECT_EQ(tmux_.screen().find("rate"), std::string::npos) << "no rate_limited refusal";
  quit_cleanly();
}

// Item 3: with the server stopped, a line shows as pending, not as said; an error is shown
// against the line it refused.
TEST_F(InteractiveKeysTest, OwnLinesArePendingUntilTheServerHasThem) {
  start_alice(server_.default_config());
  ASSERT_EQ(::kill(server_.pid(), SIGSTOP), 0);
  ASSERT_TRUE(tmux_.type("said while stopped", true));
  ASSERT_TRUE(tmux_.type("/msg nobody hi", true));
  std::string screen = tmux_.wait_text("-> *nobody* hi  (sending)");
  EXPECT_NE(screen.find("<alice> said while stopped  (sending)"), std::string::npos) << screen;
  EXPECT_NE(screen.find("-> *nobody* hi  (sending)"), std::string::npos) << screen;
  EXPECT_EQ(lines_with(screen, "said while stopped"), 1) << screen;
  ASSERT_EQ(::kill(server_.pid(), SIGCONT), 0);
  screen = tmux_.wait_text("was not sent");
  EXPECT_NE(screen.find("-> *nobody* hi  [not sent]"), std::string::npos) << screen;
  EXPECT_NE(screen.find("your message to nobody was not sent: nobody has that nick"),
            std::string::npos)
      << screen;
  screen = tmux_.wait_screen(
      [](const std::string& s) { return s.find("(sending)") == std::string::npos; });
  EXPECT_NE(screen.find("<alice> said while stopped"), std::string::npos) << screen;
  EXPECT_EQ(screen.find("(sending)"), std::string::npos) << screen;
  quit_cleanly();
}

// Item 4: a typed line over several rows, a message arriving, and a resize leave no junk.
TEST_F(InteractiveKeysTest, WrappedInputIsRedrawnWholeAfterMessagesAndResizes) {
  start_alice(server_.default_config());
  std::string typed;
  for (int i = 100; i < 140; ++i)
    typed += "w" + std::to_string(i) + " ";
  typed += "end";  // 203 characters: three rows of 100
  ASSERT_TRUE(tmux_.type(typed));
  ASSERT_TRUE(input_reads("[#lobby] " + typed));
  ASSERT_TRUE(tmux_.keys({"Home", "C-Right", "C-Right"}));  // the cursor on the first row
  ASSERT_TRUE(bob_->send(req::Say{"lobby", "first arrival"}, RequestId{10}));
  std::string screen = tmux_.wait_text("<bob> first arrival");
  ASSERT_TRUE(input_reads("[#lobby] " + typed));
  // Resizes one after the other, with messages arriving in between (several resizes may come
  // before the client hears of one): the screen settles with everything on it exactly once.
  for (int width : {60, 37, 100}) {
    ASSERT_TRUE(tmux_.resize(width, 30));
    ASSERT_TRUE(bob_->send(req::Say{"lobby", "at " + std::to_string(width)}, RequestId{11}));
  }
  const auto settled = [&](const std::string& s) {
    std::string unblanked_input = input_line(s);
    std::erase(unblanked_input, ' ');
    std::string unblanked_typed = "[#lobby]" + typed;
    std::erase(unblanked_typed, ' ');
    return unblanked_input == unblanked_typed && lines_with(s, "w117") == 1 &&
           lines_with(s, "<bob> first arrival") == 1 && lines_with(s, "<bob> at 60") == 1 &&
           lines_with(s, "<bob> at 37") == 1 && lines_with(s, "<bob> at 100") == 1;
  };
  screen = tmux_.wait_screen(settled);
  EXPECT_TRUE(settled(screen)) << screen;
  quit_cleanly();
}

// Item 9: Ctrl-C clears the line; on an empty line it says how to leave; twice leaves.
TEST_F(InteractiveKeysTest, CtrlCClearsTheLineThenHintsThenLeaves) {
  start_alice(server_.default_config());
  ASSERT_TRUE(tmux_.type("never sent"));
  ASSERT_TRUE(input_reads("[#lobby] never sent"));
  ASSERT_TRUE(tmux_.keys({"C-c"}));
  ASSERT_TRUE(input_reads("[#lobby]"));
  ASSERT_TRUE(tmux_.keys({"C-c"}));
  std::string screen = tmux_.wait_text("Ctrl-C again or /quit to leave");
  EXPECT_NE(screen.find("Ctrl-C again or /quit to leave"), std::string::npos) << screen;
  ASSERT_TRUE(tmux_.keys({"C-c"}));
  screen = tmux_.wait_text("parley-exit=");
  EXPECT_NE(screen.find("parley-exit=0"), std::string::npos) << screen;
  auto quit = bob_->wait_for<evt::Quit>();
  ASSERT_TRUE(quit);
  EXPECT_EQ(quit->nick, "alice");
  auto said = bob_->next_event(milliseconds(200));
  EXPECT_FALSE(said && std::holds_alternative<evt::Message>(*said)) << "the cleared line was sent";
}

// Item 10: several rooms at once, a current room to switch, unread counts, tags; Item 11: Tab.
TEST_F(InteractiveKeysTest, RoomsSwitchUnreadAndCompletion) {
  start_alice(server_.default_config());
  ASSERT_TRUE(tmux_.type("/join #ops,dev", true));
  ASSERT_TRUE(input_reads("[#dev | #lobby #ops]"));
  ASSERT_TRUE(bob_->send(req::Join{"ops"}, RequestId{20}));
  ASSERT_TRUE(bob_->wait_for<evt::Ack>());
  ASSERT_TRUE(bob_->send(req::Say{"ops", "ops news"}, RequestId{21}));
  std::string screen = tmux_.wait_text("[ops] <bob> ops news");
  EXPECT_NE(screen.find("[ops] <bob> ops news"), std::string::npos) << screen;
  ASSERT_TRUE(input_reads("[#dev | #lobby #ops:1]"));
  ASSERT_TRUE(tmux_.keys({"M-2"}));  // the second room joined
  ASSERT_TRUE(input_reads("[#ops | #lobby #dev]"));
  ASSERT_TRUE(tmux_.keys({"M-Right"}));
  ASSERT_TRUE(input_reads("[#dev | #lobby #ops]"));
  ASSERT_TRUE(tmux_.type("/join ops", true));
  screen = tmux_.wait_text("you are already in #ops");
  EXPECT_NE(screen.find("you are already in #ops (talking there now)"), std::string::npos)
      << screen;
  ASSERT_TRUE(input_reads("[#ops | #lobby #dev]"));
  // Tab: commands, then nicks of the current room.
  ASSERT_TRUE(tmux_.type("/sw"));
  ASSERT_TRUE(tmux_.keys({"Tab"}));
  ASSERT_TRUE(input_reads("[#ops | #lobby #dev] /switch"));
  ASSERT_TRUE(tmux_.keys({"C-u"}));
  ASSERT_TRUE(tmux_.type("bo"));
  ASSERT_TRUE(tmux_.keys({"Tab"}));
  ASSERT_TRUE(tmux_.type("hi", true));
  auto m = bob_->wait_for<evt::Message>([](const evt::Message& m) { return m.room == "ops"; });
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, "bob: hi");
  ASSERT_TRUE(tmux_.type("/rooms", true));
  screen = tmux_.wait_text("rooms: ");
  EXPECT_NE(screen.find("*#ops (2)"), std::string::npos) << screen;
  quit_cleanly();
}

// Issue 18 item 7: parleyd restarted (SIGTERM, then the same key and port) under an interactive
// client and a --listen client while a third keeps talking. The restarted server refuses
// 127.0.0.1 at first (a ban in its state directory) while the talker, from 127.0.0.2, speaks in
// the gap; once it is lifted both clients come back by themselves, in their rooms, with what was
// said in the gap (from the room's history), in order, nothing twice.
TEST_F(InteractiveKeysTest, ARestartCostsTheClientsNothing) {
  auto cfg = server_.default_config();
  cfg["control"] = {{"socket", server_.dir().file("control.sock")}};
  ASSERT_TRUE(server_.start(cfg));
  cfg["listen"][0]["port"] = server_.port();  // the next run: the same port, key and state
  bob_ = watcher("bob");
  auto listener = start_listener(*bob_, {"lobby"}, "60");
  ChildProcess& listen = *listener;
  ASSERT_TRUE(start_parley("--trust-new --nick alice --reconnect-for 60"));
  std::string screen = tmux_.wait_text("in #lobby:", milliseconds(15000));
  ASSERT_NE(screen.find("in #lobby:"), std::string::npos) << screen;
  ASSERT_TRUE(bob_->send(req::Say{"lobby", "before"}, RequestId{1}));
  ASSERT_TRUE(listen.wait_for_line(
      [](const std::string& l) { return l.find("\"text\":\"before\"") != std::string::npos; }));
  ASSERT_NE(tmux_.wait_text("<bob> before").find("<bob> before"), std::string::npos);

  server_.signal(SIGTERM);
  ASSERT_EQ(server_.wait_exit().code, 0);
  bob_.reset();
  {
    std::ofstream bans(server_.dir().file("bans.json"));
    bans << R"({"bans":[{"kind":"address","target":"127.0.0.1","expires":null}]})";
  }
  ServerProcess next;
  ASSERT_TRUE(next.start(cfg));
  TestClient talker;
  ConnectOptions from_elsewhere;
  from_elsewhere.source_address = "127.0.0.2";
  ASSERT_TRUE(talker.open(next.port(), {}, from_elsewhere));
  talker.set_auto_pong(true);
  ASSERT_TRUE(talker.send(req::Nick{"bob"}, RequestId{1}));
  talker.expect<evt::Ack>();
  ASSERT_TRUE(talker.send(req::Join{"lobby"}, RequestId{2}));
  talker.expect<evt::Ack>();
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(talker.send(req::Say{"lobby", "gap " + std::to_string(i)}, RequestId{10 + i}));
    talker.expect<evt::Ack>();
  }
  auto unban = run_child(
      {PARLEY_PARLEYCTL_PATH, "--socket", server_.dir().file("control.sock"), "unban", "127.0.0.1"},
      "");
  ASSERT_EQ(unban.status.code, 0) << unban.err;

  // Both come back (backoff tops out at 30 s; they were told to try for 60), in either order.
  std::set<std::string> back;
  for (int i = 0; i < 2; ++i) {
    auto joined = talker.wait_for<evt::Joined>(
        [&](const evt::Joined& j) {
          return (j.nick == "bot" || j.nick == "alice") && !back.contains(j.nick);
        },
        milliseconds(45000));
    ASSERT_TRUE(joined) << "only " << back.size() << " came back\n"
                        << listen.stdout_text() << tmux_.screen();
    back.insert(joined->nick);
  }
  screen = tmux_.wait_text("end of what was missed in #lobby", milliseconds(10000));
  ASSERT_TRUE(talker.send(req::Say{"lobby", "after"}, RequestId{20}));
  ASSERT_TRUE(listen.wait_for_line(
      [](const std::string& l) { return l.find("\"text\":\"after\"") != std::string::npos; }));
  screen = tmux_.wait_text("<bob> after");

  std::vector<std::string> texts;
  bool reconnecting = false;
  for (const auto& line : listen.stdout_lines()) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "message") texts.push_back(j["text"]);
    if (j["type"] == "reconnecting") reconnecting = true;
  }
  EXPECT_TRUE(reconnecting) << listen.stdout_text();
  EXPECT_EQ(texts, (std::vector<std::string>{"before", "gap 1", "gap 2", "gap 3", "gap 4", "gap 5",
                                             "after"}))
      << listen.stdout_text();
  EXPECT_NE(screen.find("missed in #lobby while away"), std::string::npos) << screen;
  for (const std::string text : {"<bob> gap 1", "<bob> gap 5", "<bob> after"})
    EXPECT_EQ(lines_with(screen, text), 1) << text << "\n" << screen;
  EXPECT_LT(screen.find("<bob> gap 1"), screen.find("<bob> gap 5")) << screen;
  ASSERT_TRUE(input_reads("[#lobby]"));
  quit_cleanly();
  listen.signal(SIGINT);
  EXPECT_TRUE(listen.wait_exit().clean());
}

// An anonymous client cannot take anything over (PROTOCOL.md 6.9): its connection is cut
// without the server noticing (the proxy keeps the old session, a ghost, holding "alice"). It
// comes back as a variant and gets "alice" back once the ghost has timed out (idle timeouts are
// short here).
TEST_F(InteractiveKeysTest, AnAnonymousNickComesBackWhenItsGhostTimesOut) {
  auto cfg = server_.default_config();
  // The ghost goes silent at the cut: pinged after 4 s, closed 4 s later; longer than the client
  // takes to come back (about 1 to 2.5 s), so it finds its nick still taken.
  cfg["limits"]["idle_interval_s"] = 4 * kSlowdown;
  cfg["limits"]["idle_timeout_s"] = 4 * kSlowdown;
  ASSERT_TRUE(server_.start(cfg));
  CutProxy proxy(server_.port());
  ASSERT_TRUE(
      tmux_.start("env HOME=" + home_.path() + " NO_COLOR=1 TZ=UTC TERM=xterm " + kParley +
                  " --trust-new --identity none --nick alice --reconnect-for 60 127.0.0.1:" +
                  std::to_string(proxy.port())));
  std::string screen = tmux_.wait_text("in #lobby:", milliseconds(15000));
  ASSERT_NE(screen.find("in #lobby:"), std::string::npos) << screen;

  const auto mark = server_.log_mark();
  proxy.cut_clients();
  screen = tmux_.wait_text("you are now alice_", milliseconds(30000));
  ASSERT_NE(screen.find("you are now alice_"), std::string::npos) << screen;
  EXPECT_NE(screen.find("alice is still taken"), std::string::npos) << screen;
  // The ghost times out (code 7); the client sees it quit and asks for its nick again.
  EXPECT_TRUE(server_.wait_for_log(
      [](const nlohmann::json& j) {
        return j.value("event", "") == "session_close" && j.value("code", "") == "timeout";
      },
      milliseconds(30000 * kSlowdown), mark))
      << server_.log_text();
  // A line ending in "you are now alice" below the one that gave it "alice_".
  const auto nick_back = [](const std::string& s) {
    std::istringstream in(s);
    bool variant = false;
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && line.back() == ' ')
        line.pop_back();
      if (line.ends_with("you are now alice_")) variant = true;
      if (variant && line.ends_with("you are now alice")) return true;
    }
    return false;
  };
  screen = tmux_.wait_screen(nick_back, milliseconds(15000));
  EXPECT_TRUE(nick_back(screen)) << screen;
  EXPECT_EQ(lines_with(screen, "you are now alice_"), 1) << screen;
  quit_cleanly();
}

// Item 17: /part of the current room moves to another; the last leaves "no room"; item 11: /me.
TEST_F(InteractiveKeysTest, PartOfTheCurrentRoomAndMe) {
  start_alice(server_.default_config());
  ASSERT_TRUE(tmux_.type("/join ops", true));
  ASSERT_TRUE(input_reads("[#ops | #lobby]"));
  ASSERT_TRUE(tmux_.type("/part", true));
  std::string screen = tmux_.wait_text("you left #ops");
  EXPECT_NE(screen.find("you left #ops (talking in #lobby now)"), std::string::npos) << screen;
  ASSERT_TRUE(input_reads("[#lobby]"));
  ASSERT_TRUE(tmux_.type("/me waves", true));
  auto m = bob_->wait_for<evt::Message>();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, "waves");
  EXPECT_TRUE(m->action);
  EXPECT_NE(tmux_.wait_text("* alice waves").find("* alice waves"), std::string::npos);
  ASSERT_TRUE(tmux_.type("/part #lobby", true));
  ASSERT_TRUE(input_reads("[no room]"));
  ASSERT_TRUE(tmux_.type("anyone?", true));
  screen = tmux_.wait_text("you are not in a room");
  EXPECT_NE(screen.find("you are not in a room"), std::string::npos) << screen;
  quit_cleanly();
}

// Item 17: SIGTERM leaves like /quit (exit 0; the others see a quit, not a lost connection).
TEST_F(InteractiveKeysTest, SigtermLeavesLikeQuit) {
  start_alice(server_.default_config());
  const std::string shell = tmux_.run({"display-message", "-p", "-t", "parley", "#{pane_pid}"}).out;
  ASSERT_FALSE(shell.empty());
  // The pane's shell runs parley as its only child.
  const auto sent =
      run_child({"/bin/sh", "-c", "pkill -TERM -P " + shell.substr(0, shell.find('\n'))}, "");
  ASSERT_EQ(sent.status.code, 0) << sent.err;
  const std::string screen = tmux_.wait_text("parley-exit=");
  EXPECT_NE(screen.find("parley-exit=0"), std::string::npos) << screen;
  auto quit = bob_->wait_for<evt::Quit>();
  ASSERT_TRUE(quit);
  EXPECT_EQ(quit->nick, "alice");
  EXPECT_EQ(quit->reason.value_or("quit"), "quit") << "a quit, not a lost connection";
}

// Item 15: a settings file, so that a daily user types `parley` and is in.
TEST_F(InteractiveKeysTest, TheSettingsFileIsEnoughToGetIn) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  bob_ = watcher("bob", "ops");
  std::filesystem::create_directories(home_.path() + "/.config/parley");
  {
    std::ofstream settings(home_.path() + "/.config/parley/config");
    settings << "# parley(1), FILES\n"
             << "target = \"" << target() << "\"\n"
             << "nick = \"carol\"\n"
             << "room = [\"lobby\", \"ops\"]\n"
             << "trust-new = true\n";
  }
  ASSERT_TRUE(tmux_.start("env HOME=" + home_.path() + " NO_COLOR=1 TZ=UTC TERM=xterm " + kParley));
  ASSERT_TRUE(input_reads("[#ops | #lobby]"));
  const std::string screen = tmux_.wait_text("you are now carol");
  EXPECT_NE(screen.find("you are now carol"), std::string::npos) << screen;
  ASSERT_TRUE(tmux_.type("from the settings", true));
  auto m = bob_->wait_for<evt::Message>();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->from, "carol");
  EXPECT_EQ(m->room, "ops");
  quit_cleanly();
  // A misspelt setting is an error, not silently nothing.
  {
    std::ofstream settings(home_.path() + "/.config/parley/config", std::ios::app);
    settings << "nik = \"dave\"\n";
  }
  auto run = run_child({kParley}, "", {{"HOME", home_.path()}});
  EXPECT_EQ(run.status.code, 2) << run.err;
  EXPECT_NE(run.err.find("nik"), std::string::npos) << run.err;
}

// Item 15: /ignore hides a nick's lines; a line over max_message_bytes goes as several.
TEST_F(InteractiveKeysTest, IgnoreAndLongLinesSplit) {
  auto cfg = server_.default_config();
  cfg["limits"]["max_message_bytes"] = 100;
  start_alice(cfg);
  ASSERT_TRUE(tmux_.type("/ignore bob", true));
  tmux_.wait_text("you ignore bob");
  ASSERT_TRUE(bob_->send(req::Say{"lobby", "hidden words"}, RequestId{30}));
  ASSERT_TRUE(bob_->wait_for<evt::Ack>());
  std::string typed;
  for (int i = 0; i < 25; ++i)
    typed += "\xc3\xa9t\xc3\xa9 ";  // 7 bytes each, 175 in all
  ASSERT_TRUE(tmux_.type(typed, true));
  std::string got;
  for (int i = 0; i < 2; ++i) {
    auto m = bob_->wait_for<evt::Message>();
    ASSERT_TRUE(m) << "piece " << i;
    EXPECT_LE(m->text.size(), 100u);
    got += m->text;
  }
  EXPECT_EQ(got, typed);
  std::string screen = tmux_.wait_text("sending it as 2 messages");
  EXPECT_NE(screen.find("sending it as 2 messages"), std::string::npos) << screen;
  EXPECT_EQ(screen.find("hidden words"), std::string::npos) << screen;
  ASSERT_TRUE(tmux_.type("/ignore bob", true));
  tmux_.wait_text("you see bob's lines again");
  ASSERT_TRUE(bob_->send(req::Say{"lobby", "visible words"}, RequestId{31}));
  screen = tmux_.wait_text("<bob> visible words");
  EXPECT_NE(screen.find("<bob> visible words"), std::string::npos) << screen;
  quit_cleanly();
}

// How an interactive session ends when the server goes and the client is told not to come
// back (--reconnect-for 0): its close record is 6, a killed server (no close record) is a lost
// connection, 3. The banner names the nick asked for, not the guest
// nick the welcome carried.
TEST_F(InteractiveTest, TheServersCloseAndItsDeathHaveTheirExitCodes) {
  for (const int signo : {SIGTERM, SIGKILL}) {
    ServerProcess server;
    ASSERT_TRUE(server.start(server.default_config()));
    Tmux tmux(home_.file("tmux-" + std::to_string(signo) + ".sock"));
    ASSERT_TRUE(tmux.start(
        "env HOME=" + home_.path() + " NO_COLOR=1 TZ=UTC TERM=xterm " + kParley +
        " --trust-new --reconnect-for 0 --nick alice 127.0.0.1:" + std::to_string(server.port())));
    std::string screen = tmux.wait_text("you joined #lobby", milliseconds(15000));
    ASSERT_NE(screen.find("you joined #lobby"), std::string::npos) << screen;
    EXPECT_NE(screen.find("asking for the nick alice"), std::string::npos) << screen;
    EXPECT_EQ(screen.find("you are guest-"), std::string::npos) << screen;
    server.signal(signo);
    screen = tmux.wait_text("parley-exit=");
    const char* expected = signo == SIGTERM ? "parley-exit=6" : "parley-exit=3";
    EXPECT_NE(screen.find(expected), std::string::npos) << screen;
    EXPECT_NE(screen.find(signo == SIGTERM ? "server shutting down" : "without a close record"),
              std::string::npos)
        << screen;
    server.wait_exit();
  }
}

}  // namespace
}  // namespace parley::it
