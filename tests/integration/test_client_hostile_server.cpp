// The real `parley` binary against a ScriptedServer: what a newer server may send (PROTOCOL.md
// 6.0) must not end the session, and what a hostile server sends must reach neither the
// terminal unescaped nor the client's memory unbounded.
#include <algorithm>
#include <map>

#include "child_process.hpp"
#include "harness.hpp"
#include "scripted_server.hpp"

namespace parley::it {
namespace {

// Exit codes, as `parley --help` documents them.
constexpr int kConnect = 3, kHandshake = 4, kClosed = 6, kRefused = 7;

const std::string kParley = PARLEY_CLIENT_PATH;

// A welcome as parleyd writes it, with fields replaced by `changes`.
std::string welcome(const nlohmann::ordered_json& changes = nlohmann::ordered_json::object()) {
  nlohmann::ordered_json w = {
      {"type", "welcome"},      {"session", "s1"},    {"nick", "guest-1"},
      {"server", "parleyd"},    {"max_frame", 65536}, {"max_message_bytes", 4096},
      {"suite", "AES-256-GCM"}, {"rate", 10},         {"burst", 20}};
  for (const auto& [key, value] : changes.items())
    w[key] = value;
  return w.dump();
}

// What a terminal would act on: C0 controls but the line feed, DEL, and C1 controls (as UTF-8).
bool has_terminal_controls(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\n') || byte == 0x7F) return true;
    if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9F)
      return true;
  }
  return false;
}

bool has_bidi_controls(std::string_view text) {
  for (std::string_view bidi : {"\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u2066",
                                "\u2067", "\u2068", "\u2069", "\u200E", "\u200F", "\u061C"})
    if (text.find(bidi) != std::string_view::npos) return true;
  return false;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(text.substr(start, end - start));
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

class HostileServerTest : public ::testing::Test {
 protected:
  // parley pinned to the scripted server's (vector) key, in a private HOME.
  // A scripted server plays one session: the client is told not to come back after it.
  ChildResult parley(const ScriptedServer& server, std::vector<std::string> args) {
    args.insert(args.begin(),
                {kParley, "--reconnect-for", "0", "--fingerprint", vector_server_fingerprint()});
    args.push_back(server.target());
    return run_child(std::move(args), "",
                     {{"HOME", home_.path()}, {"XDG_CONFIG_HOME", ""}, {"NO_COLOR", "1"}},
                     milliseconds(30000));
  }

  TempDir home_;
};

TEST_F(HostileServerTest, EventsAndErrorCodesOfALaterVersionAreIgnoredNotFatal) {
  const std::string message =
      R"({"type":"message","room":"lobby","from":"bob","text":"still here","ts":"t","seq":1})";
  ScriptedServer server({{welcome({{"features", {"shout", "goaway"}}}),
                          R"({"type":"shout","text":"maintenance at 10"})",
                          R"({"type":"error","code":"unavailable","message":"cut off"})", message,
                          R"({"type":"goaway","reason":"restart","reconnect_after_ms":500})"},
                         CloseRecord{StatusCode::normal, "server shutting down"}});
  const auto run = parley(server, {"--listen"});
  EXPECT_EQ(run.status.code, kClosed) << run.status << "\n" << run.err;
  EXPECT_NE(run.err.find("server shutting down"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("protocol error"), std::string::npos) << run.err;
  // The welcome, the error, the message and the goaway (6.7, which this client knows); the
  // event of unknown type (shout) is skipped. Then how the session ended.
  const auto lines = lines_of(run.out);
  ASSERT_EQ(lines.size(), 5u) << run.out;
  EXPECT_EQ(nlohmann::json::parse(lines[1])["code"], "unavailable");
  EXPECT_EQ(nlohmann::json::parse(lines[2]), nlohmann::json::parse(message));
  EXPECT_EQ(nlohmann::json::parse(lines[3])["type"], "goaway");
  EXPECT_EQ(nlohmann::json::parse(lines[3])["reconnect_after_ms"], 500);
  const auto end = nlohmann::json::parse(lines[4]);
  EXPECT_EQ(end["type"], "session_end");
  EXPECT_EQ(end["cause"], "closed");
  EXPECT_EQ(end["exit"], kClosed);
  EXPECT_EQ(end["reason"], "server shutting down");
  ASSERT_TRUE(server.wait_done(kDefaultTimeout));
  EXPECT_EQ(server.error(), "");
}

TEST_F(HostileServerTest, PeerTextNeverReachesTheTerminalRaw) {
  // Retitle the pane, clear the screen, switch to the alternate screen; C1 CSI; bidi override.
  const std::string attack =
      "\x1b]2;pwned\x07\x1b[2J\x1b[?1049h\xC2\x9B"
      "31m\u202Eevil\u200F";
  nlohmann::ordered_json message = {
      {"type", "message"},      {"room", "lobby\x1b[1A"},           {"from", "bob\x7F"},
      {"text", "hi " + attack}, {"ts", "2026-01-01T00:00:00.000Z"}, {"seq", 1}};
  // CR/LF between tokens are valid JSON whitespace, and nlohmann writes DEL and C1 raw.
  std::string split = message.dump();
  split.insert(split.find(",\"room\""), "\r\n");
  split.insert(split.find(",\"text\""), 1, '\n');
  ScriptedServer server(
      {{welcome({{"server", "evil" + attack}, {"suite", attack}, {"nick", "n" + attack}}), split},
       CloseRecord{StatusCode::normal, "bye " + attack}});
  const auto run = parley(server, {"--listen", "--verbose"});
  EXPECT_EQ(run.status.code, kClosed) << run.status << "\n" << run.err;

  // stderr: the welcome's fields and the close reason, defused.
  EXPECT_NE(run.err.find("connected to"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("evil\xEF\xBF\xBD]2;pwned"), std::string::npos) << run.err;
  EXPECT_FALSE(has_terminal_controls(run.err)) << run.err;
  EXPECT_FALSE(has_bidi_controls(run.err)) << run.err;

  // stdout: one valid JSON object per event, in printable ASCII, meaning what the server said,
  // and the end with the server's reason.
  const auto lines = lines_of(run.out);
  ASSERT_EQ(lines.size(), 3u) << run.out;
  for (const auto& line : lines) {
    EXPECT_TRUE(std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x20 && c < 0x7F; }))
        << line;
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
  EXPECT_EQ(nlohmann::json::parse(lines[0])["server"], "evil" + attack);
  EXPECT_EQ(nlohmann::json::parse(lines[1]), nlohmann::json::parse(message.dump()));
  EXPECT_EQ(nlohmann::json::parse(lines[2])["reason"], "bye " + attack);
}

TEST_F(HostileServerTest, RefusalsQuoteTheServerOnlySanitized) {
  ScriptedServer server(
      {{welcome(),
        R"({"type":"error","code":"\u001b[2Jodd","message":"\u001b]0;t\u0007","id":"\u001b[5m"})"},
       std::nullopt});
  const auto run = parley(server, {"--listen"});
  EXPECT_EQ(run.status.code, kRefused) << run.status << "\n" << run.err;
  EXPECT_NE(run.err.find("refused"), std::string::npos) << run.err;
  EXPECT_FALSE(has_terminal_controls(run.err)) << run.err;
}

TEST_F(HostileServerTest, AMaxFrameAboveWhatAServerMayAnnounceIsRefused) {
  ScriptedServer server(
      {{welcome({{"max_frame", 4294967295u}})}, CloseRecord{StatusCode::normal, "unexpected"}});
  const auto run = parley(server, {"--listen"});
  EXPECT_EQ(run.status.code, kHandshake) << run.status << "\n" << run.err;
  EXPECT_NE(run.err.find("max_frame"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("4294967295"), std::string::npos) << run.err;
  EXPECT_EQ(run.out, "");
}

// A ping is answered (with a pong the server sees) and not printed unless --raw; the close
// record that follows is the only thing that exits 6.
TEST_F(HostileServerTest, PingsAreAnsweredAndOnlyRawPrintsThem) {
  for (const bool raw : {false, true}) {
    ScriptedServer server({{welcome(), R"({"type":"ping"})", R"({"type":"ping"})"},
                           CloseRecord{StatusCode::normal, "done"}});
    std::vector<std::string> args = {"--listen"};
    if (raw) args.push_back("--raw");
    const auto run = parley(server, args);
    EXPECT_EQ(run.status.code, kClosed) << run.status << "\n" << run.err;
    ASSERT_TRUE(server.wait_done(kDefaultTimeout));
    EXPECT_EQ(server.error(), "");
    const auto received = server.received();
    EXPECT_EQ(std::count_if(
                  received.begin(), received.end(),
                  [](const std::string& r) { return nlohmann::json::parse(r)["type"] == "pong"; }),
              2)
        << ::testing::PrintToString(received);
    const auto lines = lines_of(run.out);
    const auto pings = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
      return nlohmann::json::parse(l)["type"] == "ping";
    });
    EXPECT_EQ(pings, raw ? 2 : 0) << run.out;
  }
}

// A record that fails authentication, or a frame longer than the welcome allows: the
// connection is broken, not closed by the server (exit 3, not 6), and the session's end says so.
TEST_F(HostileServerTest, ATamperedRecordOrAnOversizedFrameBreaksTheConnection) {
  const std::string message =
      R"({"type":"message","room":"lobby","from":"bob","text":"x","ts":"t","seq":1})";
  ServerScript tampered{{welcome(), message}, std::nullopt};
  tampered.tamper_last_record = true;
  ServerScript oversized{{welcome(), message}, std::nullopt};
  oversized.oversized_frame = 65537;  // the welcome's max_frame is 65536
  for (const auto& [script, words] : std::vector<std::pair<ServerScript, std::string>>{
           {tampered, "bad record"}, {oversized, "longer than it announced"}}) {
    ScriptedServer server(script);
    const auto run = parley(server, {"--listen"});
    EXPECT_EQ(run.status.code, kConnect) << words << ": " << run.status << "\n" << run.err;
    EXPECT_NE(run.err.find(words), std::string::npos) << run.err;
    const auto lines = lines_of(run.out);
    ASSERT_FALSE(lines.empty());
    const auto end = nlohmann::json::parse(lines.back());
    EXPECT_EQ(end["type"], "session_end") << run.out;
    EXPECT_EQ(end["cause"], "protocol_error") << run.out;
    EXPECT_EQ(end["exit"], kConnect) << run.out;
    // The message before the oversized frame arrived; the tampered one did not.
    const bool message_printed = run.out.find("\"type\":\"message\"") != std::string::npos;
    EXPECT_EQ(message_printed, script.oversized_frame.has_value()) << run.out;
  }
}

// Pipe mode against a server that ends the session: a close record is 6, a hang-up is 3.
TEST_F(HostileServerTest, PipeModeTellsACloseFromAHangUp) {
  // Nothing on stdin: the client waits for its join's ack, which never comes.
  ScriptedServer closes({{welcome()}, CloseRecord{StatusCode::kicked, "enough"}});
  const auto closed = parley(closes, {"--batch"});
  EXPECT_EQ(closed.status.code, kClosed) << closed.status << "\n" << closed.err;
  EXPECT_NE(closed.err.find("enough"), std::string::npos) << closed.err;

  ServerScript hang_up{{welcome()}, std::nullopt};
  hang_up.hang_up = true;
  ScriptedServer hangs_up(hang_up);
  const auto lost = parley(hangs_up, {"--batch"});
  EXPECT_EQ(lost.status.code, kConnect) << lost.status << "\n" << lost.err;
  EXPECT_NE(lost.err.find("without a close record"), std::string::npos) << lost.err;
}

}  // namespace
}  // namespace parley::it
