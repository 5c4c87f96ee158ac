// The client's pure parts: addresses, known_hosts, the trust decision, typed commands,
// rendering (and its defence against terminal escapes), pacing and the line reader.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "address.hpp"
#include "commands.hpp"
#include "known_hosts.hpp"
#include "line_reader.hpp"
#include "listen_line.hpp"
#include "pacer.hpp"
#include "render.hpp"
#include "session_end.hpp"
#include "trust.hpp"

namespace parley::client {
namespace {

const std::string kFp1 = "SHA256:" + std::string(43, 'A');
const std::string kFp2 = "SHA256:" + std::string(42, 'B') + "c";

ServerAddress address(std::string_view text) {
  auto parsed = parse_server_address(text);
  EXPECT_TRUE(std::holds_alternative<ServerAddress>(parsed))
      << text << ": " << std::get<std::string>(parsed);
  return std::holds_alternative<ServerAddress>(parsed) ? std::get<ServerAddress>(parsed)
                                                       : ServerAddress{};
}

TEST(ClientAddress, ParsesHostsPortsAndIpv6LikeSsh) {
  EXPECT_EQ(address("example.org"), (ServerAddress{"example.org", 7777}));
  EXPECT_EQ(address("example.org:8000"), (ServerAddress{"example.org", 8000}));
  EXPECT_EQ(address("127.0.0.1:1"), (ServerAddress{"127.0.0.1", 1}));
  EXPECT_EQ(address("[::1]:7778"), (ServerAddress{"::1", 7778}));
  EXPECT_EQ(address("[::1]"), (ServerAddress{"::1", 7777}));
  EXPECT_EQ(address("::1"), (ServerAddress{"::1", 7777}));
  EXPECT_EQ(address("[fe80::1%eth0]:9"), (ServerAddress{"fe80::1%eth0", 9}));
}

TEST(ClientAddress, SchemesSayWhetherTls) {
  EXPECT_EQ(address("parleys://chat.example.org"), (ServerAddress{"chat.example.org", 7777, true}));
  EXPECT_EQ(address("parleys://[::1]:7443"), (ServerAddress{"::1", 7443, true}));
  EXPECT_EQ(address("parley://127.0.0.1:9"), (ServerAddress{"127.0.0.1", 9, false}));
  for (std::string_view bad :
       {"parleys://", "https://example.org", "parleys://parley://x", "parleys:/x", "PARLEYS://x"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_server_address(bad))) << bad;
  }
  // One server key, one known_hosts entry, with or without TLS.
  EXPECT_EQ(known_hosts_name(address("parleys://Example.org:7443")), "example.org:7443");
}

TEST(ClientAddress, RejectsWhatIsNotAnAddress) {
  for (std::string_view bad : {"", ":7777", "host:", "host:0", "host:65536", "host:12x", "[::1",
                               "[::1]x", "[host]:1", "ho st", "host/path", "[::1]:"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_server_address(bad))) << bad;
  }
}

TEST(ClientAddress, KnownHostsNamesFollowOpenSsh) {
  EXPECT_EQ(known_hosts_name({"Example.ORG", 7777}), "example.org:7777");
  EXPECT_EQ(known_hosts_name({"::1", 7777}), "[::1]:7777");
  EXPECT_EQ(known_hosts_name({"127.0.0.1", 80}), "127.0.0.1:80");
}

TEST(KnownHosts, LookupFindsMatchesChangesAndSkipsDamage) {
  const auto known = KnownHosts::parse(
      "# comment\n\n"
      "a:1 " +
      kFp1 +
      "\n"
      "garbage line\n"
      "b:2 SHA256:short\n"
      "a:1 " +
      kFp2 +
      "\r\n"
      "c:3\t" +
      kFp2);
  EXPECT_EQ(known.malformed_lines(), 2u);
  EXPECT_EQ(known.entries().size(), 3u);
  EXPECT_EQ(known.lookup("a:1", kFp2).status, HostKeyStatus::matches);  // any line may match
  EXPECT_EQ(known.lookup("c:3", kFp2).status, HostKeyStatus::matches);
  const auto changed = known.lookup("c:3", kFp1);
  EXPECT_EQ(changed.status, HostKeyStatus::changed);
  ASSERT_TRUE(changed.recorded);
  EXPECT_EQ(changed.recorded->line, 7u);
  EXPECT_EQ(changed.recorded->fingerprint, kFp2);
  EXPECT_EQ(known.lookup("b:2", kFp1).status, HostKeyStatus::unknown);
  EXPECT_EQ(known.lookup("d:4", kFp1).status, HostKeyStatus::unknown);
}

TEST(KnownHosts, AppendCreatesPrivateFileAndCountsLines) {
  const std::string dir = testing::TempDir() + "/kh-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  const std::string path = dir + "/sub/known_hosts";
  EXPECT_EQ(append_known_host(path, "a:1", kFp1), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  { std::ofstream(path, std::ios::app) << "# no newline at the end"; }
  EXPECT_EQ(append_known_host(path, "b:2", kFp2), 3u);
  const auto known = load_known_hosts(path);
  EXPECT_EQ(known.lookup("b:2", kFp2).status, HostKeyStatus::matches);
  EXPECT_EQ(known.lookup("b:2", kFp2).recorded->line, 3u);
  EXPECT_EQ(load_known_hosts(dir + "/missing").entries().size(), 0u);
  std::filesystem::remove_all(dir);
}

TEST(KnownHosts, RemoveDropsEveryLineOfTheHostAndKeepsTheRest) {
  const std::string dir = testing::TempDir() + "/kh-rm-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  const std::string path = dir + "/known_hosts";
  EXPECT_TRUE(remove_known_host(path, "a:1").empty());  // no file: nothing to do, no file made
  EXPECT_FALSE(std::filesystem::exists(path));
  std::filesystem::create_directories(dir);
  const std::string text = "# mine\na:1 " + kFp1 + "\nb:2 " + kFp2 + "\n\nA:1 " + kFp1 +
                           "\na:1 damaged\na:1  " + kFp2 + "\nb:2 " + kFp1;
  { std::ofstream(path) << text; }
  ::chmod(path.c_str(), 0600);

  EXPECT_TRUE(remove_known_host(path, "c:3").empty());
  const auto removed = remove_known_host(path, "a:1");
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0].line, 2u);
  EXPECT_EQ(removed[0].fingerprint, kFp1);
  EXPECT_EQ(removed[1].line, 7u);
  EXPECT_EQ(removed[1].fingerprint, kFp2);
  std::ifstream in(path);
  const std::string left((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Comments, blank and damaged lines, other hosts and a last line without newline: as they were.
  EXPECT_EQ(left, "# mine\nb:2 " + kFp2 + "\n\nA:1 " + kFp1 + "\na:1 damaged\nb:2 " + kFp1);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove_all(dir);
}

TEST(KnownHosts, FingerprintShape) {
  EXPECT_TRUE(is_fingerprint(kFp1));
  EXPECT_FALSE(is_fingerprint("SHA256:" + std::string(44, 'A')));
  EXPECT_FALSE(is_fingerprint("MD5:" + std::string(43, 'A')));
  EXPECT_FALSE(is_fingerprint("SHA256:" + std::string(42, 'A') + "="));
}

TEST(Trust, DecisionTable) {
  const HostKeyLookup unknown{};
  const HostKeyLookup matches{HostKeyStatus::matches, KnownHost{"a:1", kFp1, 1}};
  const HostKeyLookup changed{HostKeyStatus::changed, KnownHost{"a:1", kFp2, 4}};
  const TrustPolicy none{};
  TrustPolicy trust_new;
  trust_new.trust_new = true;
  TrustPolicy ask;
  ask.can_ask = true;
  TrustPolicy pinned;
  pinned.pinned = kFp1;

  EXPECT_EQ(decide_trust(matches, kFp1, none), TrustAction::proceed);
  EXPECT_EQ(decide_trust(unknown, kFp1, none), TrustAction::refuse_unknown);
  EXPECT_EQ(decide_trust(unknown, kFp1, trust_new), TrustAction::proceed_and_record);
  EXPECT_EQ(decide_trust(unknown, kFp1, ask), TrustAction::ask);
  // A changed key is refused whatever the flags...
  EXPECT_EQ(decide_trust(changed, kFp1, none), TrustAction::refuse_changed);
  EXPECT_EQ(decide_trust(changed, kFp1, trust_new), TrustAction::refuse_changed);
  EXPECT_EQ(decide_trust(changed, kFp1, ask), TrustAction::refuse_changed);
  // ...except an explicit --fingerprint of exactly the presented key (PROTOCOL.md 2.4).
  // It then replaces the old key, or the next plain connect would be refused again.
  EXPECT_EQ(decide_trust(changed, kFp1, pinned), TrustAction::proceed_and_replace);
  EXPECT_EQ(decide_trust(matches, kFp1, pinned), TrustAction::proceed);
  EXPECT_EQ(decide_trust(unknown, kFp1, pinned), TrustAction::proceed_and_record);
  EXPECT_EQ(decide_trust(matches, kFp2, pinned), TrustAction::refuse_not_pinned);
}

TEST(Trust, WarningNamesBothKeysTheFileAndTheLine) {
  const std::string text = changed_key_warning("a:1", KnownHost{"a:1", kFp2, 4}, kFp1, "/k/h");
  EXPECT_NE(text.find(kFp1), std::string::npos);
  EXPECT_NE(text.find(kFp2), std::string::npos);
  EXPECT_NE(text.find("/k/h line 4"), std::string::npos);
  EXPECT_NE(text.find("parley known-hosts remove a:1"), std::string::npos) << text;
  EXPECT_EQ(parse_yes_no(" YES \n"), true);
  EXPECT_EQ(parse_yes_no("n"), false);
  EXPECT_EQ(parse_yes_no("sure"), std::nullopt);
}

template <class T>
const T& as(const Command& c) {
  static const T fallback{};
  EXPECT_TRUE(std::holds_alternative<T>(c));
  return std::holds_alternative<T>(c) ? std::get<T>(c) : fallback;
}

req::Body body_of(std::string_view line, std::string_view room = "lobby") {
  return as<SendRequest>(parse_input(line, room)).body;
}

TEST(Commands, EveryCommandAndPlainText) {
  EXPECT_EQ(body_of("hello there"), req::Body(req::Say{"lobby", "hello there"}));
  EXPECT_EQ(body_of("  indented"), req::Body(req::Say{"lobby", "  indented"}));
  EXPECT_EQ(body_of("//slash"), req::Body(req::Say{"lobby", "/slash"}));
  EXPECT_EQ(body_of("/nick bob"), req::Body(req::Nick{"bob"}));
  EXPECT_EQ(std::get<JoinRooms>(parse_input("/join  dev ", "lobby")).rooms,
            std::vector<std::string>{"dev"});
  EXPECT_EQ(body_of("/part"), req::Body(req::Part{"lobby"}));
  EXPECT_EQ(body_of("/part dev"), req::Body(req::Part{"dev"}));
  EXPECT_EQ(body_of("/msg bob hi  there"), req::Body(req::Msg{"bob", "hi  there"}));
  EXPECT_EQ(body_of("/who"), req::Body(req::Who{"lobby"}));
  EXPECT_EQ(body_of("/who dev"), req::Body(req::Who{"dev"}));
  EXPECT_EQ(body_of("/rooms"), req::Body(req::Rooms{}));
  EXPECT_EQ(body_of("/quit"), req::Body(req::Quit{}));
  EXPECT_EQ(body_of("/quit gone fishing"), req::Body(req::Quit{"gone fishing"}));
  EXPECT_TRUE(std::holds_alternative<ShowHelp>(parse_input("/help", "lobby")));
  EXPECT_TRUE(std::holds_alternative<NothingToDo>(parse_input("   ", "lobby")));
}

TEST(Commands, MistakesAreExplained) {
  for (std::string_view bad : {"/nick", "/nick a b", "/join", "/msg bob", "/rooms x", "/frob"})
    EXPECT_FALSE(as<InputError>(parse_input(bad, "lobby")).message.empty()) << bad;
  EXPECT_NE(as<InputError>(parse_input("hi", "")).message.find("/join"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<InputError>(parse_input("/who", "")));
}

TEST(Render, SanitizeDefusesTerminalControlAndBidi) {
  EXPECT_EQ(sanitize("plain ünï ✓"), "plain ünï ✓");
  EXPECT_EQ(sanitize("a\tb"), "a b");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(sanitize("\x1b[2J"), fffd + "[2J");  // ESC
  EXPECT_EQ(sanitize("x\r\ny\x07"), "x" + fffd + fffd + "y" + fffd);
  EXPECT_EQ(sanitize("\xC2\x9B"
                     "31m"),
            fffd + "31m");  // C1 CSI
  EXPECT_EQ(sanitize("\xE2\x80\xAE"
                     "evil"),
            fffd + "evil");                                 // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(sanitize("\xE2\x81\xA6"), fffd);                // LEFT-TO-RIGHT ISOLATE
  EXPECT_EQ(sanitize("\xFF\xC3"), fffd + fffd);             // invalid UTF-8
  EXPECT_EQ(sanitize("\xED\xA0\x80"), fffd + fffd + fffd);  // encoded surrogate
}

// Characters a terminal does not act on, yet which hide or reorder what the user reads: a nick
// "adm\u200Bin", or text that shows one thing and says another.
TEST(Render, SanitizeDefusesInvisibleAndReorderingCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  for (char32_t cp : {0x00AD, 0x061C, 0x180E, 0x200B, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A,
                      0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064,
                      0x2066, 0x2067, 0x2068, 0x2069, 0x206A, 0x206F, 0xFEFF, 0xFFF9, 0xFFFB}) {
    std::string encoded;
    // push_back, not `encoded = {...}`: g++ 12 at -O3 reports -Wmaybe-uninitialized on the
    // initializer_list assignment (a false positive).
    if (cp < 0x800) {
      encoded.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    } else {
      encoded.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      encoded.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    }
    encoded.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    EXPECT_EQ(sanitize("a" + encoded + "b"), "a" + fffd + "b")
        << "U+" << std::hex << static_cast<std::uint32_t>(cp);
  }
  // Joiners stay: scripts and emoji need them (a family: man ZWJ woman ZWJ girl).
  const std::string family = "\xF0\x9F\x91\xA8\u200D\xF0\x9F\x91\xA9\u200D\xF0\x9F\x91\xA7";
  EXPECT_EQ(sanitize(family), family);
  EXPECT_EQ(sanitize("\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645"),
            "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645");
  // Neighbours of the replaced ranges are ordinary text.
  EXPECT_EQ(sanitize("\u00AC\u00AE\u2027\u2030\u2065\u2070\uFEFE\uFFFC"),
            "\u00AC\u00AE\u2027\u2030\u2065\u2070\uFEFE\uFFFC");
}

TEST(Render, EventsReadLikeAChat) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  RenderContext ctx;
  ctx.current_room = "lobby";
  ctx.clock = "12:00:00";
  ctx.max_message_bytes = 4096;
  EXPECT_EQ(local_clock("2026-11-23T10:11:12.345Z"), "10:11:12");
  EXPECT_EQ(
      render_event(evt::Message{"lobby", "bob", "hi\x1b", "2026-11-23T10:11:12.345Z", 3}, ctx),
      "10:11:12 <bob> hi\xEF\xBF\xBD");
  EXPECT_EQ(render_event(evt::Message{"dev", "bob", "hi", "2026-11-23T10:11:12.345Z", 3}, ctx),
            "10:11:12 [dev] <bob> hi");
  EXPECT_EQ(render_event(evt::Direct{"bob", "psst", "2026-11-23T10:11:12.345Z"}, ctx),
            "10:11:12 *bob* psst");
  // 6.3: /me
  EXPECT_EQ(
      render_event(evt::Message{"dev", "bob", "waves", "2026-11-23T10:11:12.345Z", 3, true}, ctx),
      "10:11:12 [dev] * bob waves");
  EXPECT_EQ(render_event(evt::Direct{"bob", "nods", "2026-11-23T10:11:12.345Z", true}, ctx),
            "10:11:12 * bob nods (to you)");
  EXPECT_EQ(render_event(evt::Joined{"lobby", "amy"}, ctx), "12:00:00 -!- amy joined #lobby");
  EXPECT_EQ(render_event(evt::Quit{"amy", "bye"}, ctx), "12:00:00 -!- amy quit (bye)");
  EXPECT_EQ(render_event(evt::Who{"lobby", {"a", "b"}, {}}, ctx), "12:00:00 -!- in #lobby: a, b");
  EXPECT_EQ(render_event(evt::Ack{RequestId{1}}, ctx), std::nullopt);
  EXPECT_EQ(render_event(evt::Ping{}, ctx), std::nullopt);
  const auto error = render_event(evt::Error{ErrorCode::too_long, "x", {}}, ctx);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("at most 4096 bytes"), std::string::npos) << *error;
  ctx.colour = true;
  const auto coloured = render_event(evt::Joined{"lobby", "Amy"}, ctx);
  EXPECT_NE(coloured->find("\x1b["), std::string::npos);
  EXPECT_EQ(paint_nick("Amy", true),
            paint_nick("amy", true).replace(paint_nick("amy", true).find("amy"), 3, "Amy"));
  EXPECT_EQ(describe_close(StatusCode::policy, "slow consumer"),
            "the server closed the session for breaking its limits [policy]: slow consumer");
}

// What was refused, then why and what to do: no "cannot message to nobody".
TEST(Render, RefusalsSayWhatFailedAndWhatToDo) {
  const auto refusal = [](const req::Body& body, ErrorCode code) {
    return "cannot " + refused_request(body) + ": " + describe_error(evt::Error{code, "", {}}, 0);
  };
  EXPECT_EQ(refusal(req::Msg{"nobody", "hi"}, ErrorCode::no_such_nick),
            "cannot send your message to nobody: nobody has that nick on the server now (check "
            "the spelling, or /who) [no_such_nick]");
  EXPECT_EQ(refusal(req::Nick{"bob"}, ErrorCode::nick_taken),
            "cannot take the nick bob: someone else has that nick; choose another [nick_taken]");
  EXPECT_EQ(refusal(req::Part{"ops"}, ErrorCode::not_member),
            "cannot leave #ops: you are not in that room (/join it first) [not_member]");
  EXPECT_EQ(refused_request(req::Say{"dev", "x"}), "send your message to #dev");
  EXPECT_EQ(refused_request(req::Join{"a\x1b"}), "join #a\xEF\xBF\xBD");
  EXPECT_EQ(refused_request(req::Rooms{}), "list the rooms");
}

TEST(Render, AuthFailureSaysHowToGetIn) {
  const std::string anonymous = auth_failed_advice("");
  EXPECT_NE(anonymous.find("only authorized keys"), std::string::npos) << anonymous;
  EXPECT_NE(anonymous.find("parley keygen"), std::string::npos) << anonymous;
  EXPECT_NE(anonymous.find("operator"), std::string::npos) << anonymous;
  const std::string with_key = auth_failed_advice(kFp1);
  EXPECT_NE(with_key.find(kFp1), std::string::npos) << with_key;
  EXPECT_NE(with_key.find("operator"), std::string::npos) << with_key;
}

// PROTOCOL.md 6.0: a code from a later server is a generic failure of the request, in the
// server's own (sanitized) words, and an unknown close code a normal end.
TEST(Render, UnknownErrorAndCloseCodesReadAsGenericEnds) {
  evt::Error error{ErrorCode::bad_request, "try later\x1b]0;x\x07", std::int64_t{2}};
  error.unknown_code = "unavailable";
  EXPECT_EQ(describe_error(error, 4096),
            "the server refused the request: try later\xEF\xBF\xBD]0;x\xEF\xBF\xBD [unavailable]");
  EXPECT_EQ(describe_close(static_cast<StatusCode>(13), "later"),
            "the server ended the session [code 13]: later");
  // 6.8's codes are known.
  EXPECT_EQ(describe_close(StatusCode::replaced, "replaced by a new session with your key"),
            "another session with your key took this one's place [replaced]: replaced by a new "
            "session with your key");
  EXPECT_EQ(describe_close(StatusCode::kicked, ""), "the operator ended the session [kicked]");
  EXPECT_EQ(describe_close(StatusCode::bad_key, ""),
            "the server reported a protocol error [bad_key]");
}

// --listen: every event one line of JSON that a script can parse, whatever bytes the server used.
TEST(ListenLine, OneLineOfPrintableAsciiJsonThatReadsBackAsTheEvent) {
  // JSON allows CR/LF between tokens, and DEL, C1 and bidi characters raw inside strings.
  const std::string from_server =
      "{\"type\":\"message\",\r\n\"room\":\"lobby\",\n\"from\":\"bob\",\"text\":"
      "\"a\x7F b\xC2\x9B"
      "31m c\xE2\x80\xAE d\u2028 \xC3\xA9 \\u001b[2J\",\"ts\":\"t\",\"seq\":7}";
  const auto parsed = evt::parse(from_server);
  ASSERT_TRUE(std::holds_alternative<evt::Event>(parsed));
  const evt::Event& event = std::get<evt::Event>(parsed);

  const std::string line = listen_line(event);
  ASSERT_TRUE(line.ends_with('\n'));
  const std::string json = line.substr(0, line.size() - 1);
  for (char c : json)
    EXPECT_TRUE(c >= 0x20 && c < 0x7F)
        << "byte 0x" << std::hex << (static_cast<int>(c) & 0xFF) << " in " << json;
  EXPECT_EQ(json, R"({"type":"message","room":"lobby","from":"bob","text":"a\u007f b\u009b31m )"
                  R"(c\u202e d\u2028 \u00e9 \u001b[2J","ts":"t","seq":7})");
  const auto again = evt::parse(json);
  ASSERT_TRUE(std::holds_alternative<evt::Event>(again)) << json;
  EXPECT_EQ(std::get<evt::Event>(again), event);
}

TEST(ListenLine, EveryEventTypeIsOneLine) {
  for (const evt::Event& event :
       std::vector<evt::Event>{evt::Welcome{"s", "n\n", "srv\r\n", 65536, 4096, "AES", 10, 20},
                               evt::Quit{"a", "line one\nline two"}, evt::Who{"r", {"a\n"}, {}},
                               evt::Rooms{{{"r\r", 1}}, "id\n"}}) {
    const std::string line = listen_line(event);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  }
}

TEST(ListenLine, BookkeepingOnlyWhenRaw) {
  for (const evt::Event& event : std::vector<evt::Event>{evt::Ping{}, evt::Pong{RequestId{1}},
                                                         evt::Ack{RequestId{"room lobby"}}}) {
    EXPECT_FALSE(listen_shows(event, false)) << listen_line(event);
    EXPECT_TRUE(listen_shows(event, true)) << listen_line(event);
  }
  for (const evt::Event& event : std::vector<evt::Event>{
           evt::Message{"r", "bob", "hi", "t", 1}, evt::Direct{"bob", "psst", "t"},
           evt::Joined{"r", "amy"}, evt::Parted{"r", "amy"}, evt::Quit{"amy", std::nullopt},
           evt::NickChanged{"amy", "ann"}, evt::Error{ErrorCode::no_such_nick, "", {}}})
    EXPECT_TRUE(listen_shows(event, false)) << listen_line(event);
}

TEST(ListenLine, TheSessionsEndIsTheLastLine) {
  const SessionEnd closed =
      session_end_of(SessionClosed{CloseRecord{StatusCode::normal, "bye\n\x1b[2J"}});
  EXPECT_EQ(closed.exit, Exit::closed);
  const std::string line = listen_end_line(closed);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["type"], "session_end");
  EXPECT_EQ(json["cause"], "closed");
  EXPECT_EQ(json["exit"], 6);
  EXPECT_EQ(json["code"], "normal");
  EXPECT_EQ(json["reason"], "bye\n\x1b[2J");  // the server's words, JSON-escaped

  // Only a close record is exit 6: a lost or broken connection is 3.
  const SessionEnd lost = session_end_of(ConnectionLost{"connection lost: reset"});
  EXPECT_EQ(lost.exit, Exit::connect);
  EXPECT_EQ(lost.cause, "lost");
  const SessionEnd broken = session_end_of(ProtocolViolation{"bad record"});
  EXPECT_EQ(broken.exit, Exit::connect);
  EXPECT_EQ(broken.cause, "protocol_error");
  const auto lost_json = nlohmann::json::parse(listen_end_line(lost));
  EXPECT_EQ(lost_json["exit"], 3);
  EXPECT_FALSE(lost_json.contains("code"));
}

TEST(Pacer, StaysUnderTheServersBucket) {
  const auto t0 = std::chrono::steady_clock::time_point{};
  evt::Welcome welcome;
  welcome.rate = 10;
  welcome.burst = 20;
  Pacer pacer = Pacer::for_welcome(welcome, t0);
  int immediate = 0;
  while (pacer.delay(t0) == std::chrono::steady_clock::duration::zero() && immediate < 100) {
    pacer.spend(t0);
    ++immediate;
  }
  EXPECT_EQ(immediate, 10);  // half the burst
  const auto wait = pacer.delay(t0);
  EXPECT_GT(wait, std::chrono::milliseconds(100));  // slower than the server's 10/s
  EXPECT_LT(wait, std::chrono::milliseconds(120));

  evt::Welcome old_server;  // no rate or burst: one request a second
  Pacer careful = Pacer::for_welcome(old_server, t0);
  careful.spend(t0);
  EXPECT_EQ(careful.delay(t0), std::chrono::seconds(1));
}

std::vector<std::string> read_lines(int fd, std::size_t max_line, std::string* error = nullptr) {
  boost::asio::io_context io;
  auto lines = boost::asio::co_spawn(
      io,
      [](int fd, std::size_t max_line) -> boost::asio::awaitable<std::vector<std::string>> {
        LineReader reader(co_await boost::asio::this_coro::executor, fd, max_line);
        std::vector<std::string> out;
        while (auto line = co_await reader.next_line())
          out.push_back(*line);
        co_return out;
      }(fd, max_line),
      boost::asio::use_future);
  io.run();
  try {
    return lines.get();
  } catch (const LineTooLong& e) {
    if (error) *error = "line " + std::to_string(e.line());
    return {};
  }
}

TEST(LineReader, PipesAndRegularFilesWithBoundedLines) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string text = "one\r\n\ntwo\nlast without newline";
  ASSERT_EQ(::write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fds[1]);
  EXPECT_EQ(read_lines(fds[0], 100),
            (std::vector<std::string>{"one", "", "two", "last without newline"}));
  ::close(fds[0]);

  // A pipe with a line too long, in the middle and at the end (no newline), and one of exactly
  // the limit: the error names the line.
  for (const auto& [input, expected] : std::vector<std::pair<std::string, std::string>>{
           {"a\n" + std::string(10, 'y') + "\n" + std::string(11, 'z') + "\nafter\n", "line 3"},
           {"a\n" + std::string(11, 'z'), "line 2"},
           {std::string(30000, 'w') + "\n", "line 1"}}) {
    ASSERT_EQ(::pipe(fds), 0);
    ASSERT_LT(input.size(), 65536u);  // within the pipe's buffer: the write does not block
    ASSERT_EQ(::write(fds[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
    ::close(fds[1]);
    std::string error;
    EXPECT_TRUE(read_lines(fds[0], 10, &error).empty());
    EXPECT_EQ(error, expected);
    ::close(fds[0]);
  }

  // A regular file, which epoll refuses: read directly.
  const std::string path = testing::TempDir() + "/lines-" + std::to_string(::getpid());
  { std::ofstream(path) << "a\nbb\n" << std::string(50, 'x') << "\n"; }
  const int file = ::open(path.c_str(), O_RDONLY);
  std::string error;
  EXPECT_TRUE(read_lines(file, 10, &error).empty());
  EXPECT_EQ(error, "line 3");
  ::close(file);
  std::filesystem::remove(path);
}

// --stdin-message: all of the input, bounded.
TEST(LineReader, ReadAllTakesEverythingUpToALimit) {
  const auto read_all = [](const std::string& input,
                           std::size_t limit) -> std::optional<std::string> {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    EXPECT_EQ(::write(fds[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
    ::close(fds[1]);
    boost::asio::io_context io;
    auto all = boost::asio::co_spawn(
        io,
        [](int fd, std::size_t limit) -> boost::asio::awaitable<std::string> {
          LineReader reader(co_await boost::asio::this_coro::executor, fd, 10);
          co_return co_await reader.read_all(limit);
        }(fds[0], limit),
        boost::asio::use_future);
    io.run();
    ::close(fds[0]);
    try {
      return all.get();
    } catch (const InputTooLong&) {
      return std::nullopt;
    }
  };
  // Lines longer than the reader's line limit are no matter here.
  EXPECT_EQ(read_all("first line is long\nsecond\n", 100), "first line is long\nsecond\n");
  EXPECT_EQ(read_all(std::string(100, 'x'), 100), std::string(100, 'x'));
  EXPECT_EQ(read_all(std::string(101, 'x'), 100), std::nullopt);
  EXPECT_EQ(read_all(std::string(40000, 'x'), 100), std::nullopt);
  EXPECT_EQ(read_all("", 100), "");
}

}  // namespace
}  // namespace parley::client
