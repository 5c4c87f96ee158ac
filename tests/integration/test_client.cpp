// The real `parley` binary against the real `parleyd`: pipe mode, --listen, known_hosts,
// keygen and --identity, exit codes, and the interactive mode in a terminal (tmux).
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "child_process.hpp"
#include "harness.hpp"
#include "parley/concat.hpp"

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

  TempDir home_;
  ServerProcess server_;
};

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

  auto too_long = parley({}, "short\n" + std::string(5000, 'x') + "\n");
  EXPECT_EQ(too_long.status.code, kRefused) << too_long.err;
  EXPECT_NE(too_long.err.find("line 2"), std::string::npos) << too_long.err;

  auto bob = watcher("bob");
  auto taken = parley({"--nick", "bob"}, "hi\n");
  EXPECT_EQ(taken.status.code, kRefused) << taken.err;
  EXPECT_NE(taken.err.find("nick_taken"), std::string::npos) << taken.err;
}

TEST_F(ClientTest, ListenPrintsEveryMessageAsOneLineOfJson) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  ChildProcess listen({kParley, "--listen", "--trust-new", "--nick", "bot", target()}, env());
  ASSERT_TRUE(listen.started());
  ASSERT_TRUE(listen.wait_for_line([](const std::string& l) {
    return l.find("\"join\"") != std::string::npos;
  })) << listen.stderr_text();

  auto alice = watcher("alice");
  const std::string text = "tabs\tquotes \" backslash \\ ünïcödé ✓";
  ASSERT_TRUE(alice->send(req::Say{"lobby", text}, RequestId{3}));
  alice->expect<evt::Ack>();
  auto line = listen.wait_for_line(
      [](const std::string& l) { return l.find("\"type\":\"message\"") != std::string::npos; });
  ASSERT_TRUE(line) << listen.stdout_text();
  const auto json = nlohmann::json::parse(*line);
  EXPECT_EQ(json["text"], text);
  EXPECT_EQ(json["from"], "alice");
  // Compact, in the protocol's field order, and in ASCII: non-ASCII text arrives escaped.
  EXPECT_EQ(*line, nlohmann::ordered_json::parse(*line).dump(-1, ' ', /*ensure_ascii=*/true));
  EXPECT_TRUE(line->starts_with("{\"type\":\"message\",\"room\":\"lobby\",\"from\":\"alice\""))
      << *line;
  EXPECT_NE(line->find("\\u00fc"), std::string::npos) << *line;

  const auto lines = listen.stdout_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(nlohmann::json::parse(lines.front())["type"], "welcome");
  for (const auto& l : lines)
    EXPECT_TRUE(nlohmann::json::parse(l).is_object()) << l;

  listen.signal(SIGINT);
  const auto status = listen.wait_exit();
  EXPECT_TRUE(status.clean()) << status << "\n" << listen.stderr_text();
  EXPECT_TRUE(alice->wait_for<evt::Quit>([](const evt::Quit& q) { return q.nick == "bot"; }));
}

TEST_F(ClientTest, ListenExitsWithClosedWhenTheServerStops) {
  ASSERT_TRUE(server_.start(server_.default_config()));
  ChildProcess listen({kParley, "--listen", "--trust-new", target()}, env());
  ASSERT_TRUE(listen.wait_for_line(
      [](const std::string& l) { return l.find("\"join\"") != std::string::npos; }));
  server_.signal(SIGTERM);
  const auto status = listen.wait_exit();
  EXPECT_EQ(status.code, kClosed) << status;
  EXPECT_NE(listen.stderr_text().find("server shutting down"), std::string::npos)
      << listen.stderr_text();
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
  auto pinned = parley({"--fingerprint", fp}, "hi\n");
  EXPECT_EQ(pinned.status.code, 0) << pinned.err;
  auto wrong_pin = parley({"--fingerprint", old_fp}, "hi\n");
  EXPECT_EQ(wrong_pin.status.code, kHostKey) << wrong_pin.err;
  EXPECT_EQ(read_file(known_hosts()), changed);
}

TEST_F(ClientTest, KnownHostsOptionAndIpv6Naming) {
  auto cfg = server_.default_config();
  cfg["listen"] = nlohmann::json::array({{{"address", "::1"}, {"port", 0}}});
  if (!server_.start(cfg)) GTEST_SKIP() << "no IPv6 loopback here";  // printed, not silent
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

  auto cfg = server_.default_config();
  // The watcher gets in with the vector client key.
  cfg["auth"] = {{"mode", "keys"},
                 {"authorized_keys",
                  server_.dir().write("authorized_keys",
                                      fp + " keyholder\n" + client_identity_fingerprint() + "\n")}};
  ASSERT_TRUE(server_.start(cfg));
  auto anonymous = parley({"--trust-new"}, "hi\n");
  EXPECT_EQ(anonymous.status.code, kHandshake) << anonymous.err;

  HandshakeOptions with_key;
  with_key.identity = client_identity_key();
  auto bob = watcher("bob", "lobby", with_key);
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

}  // namespace
}  // namespace parley::it
