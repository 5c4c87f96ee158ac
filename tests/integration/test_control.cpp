// The admin socket and parleyctl (issue 16 item 6; parleyctl(8)): a real parleyd with
// "control": {"socket": ...} in its temp dir, driven by the real parleyctl binary and watched
// through TestClients and the event log.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "harness.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

const std::string kParleyctl = PARLEY_PARLEYCTL_PATH;

// parleyctl's exit statuses (parleyctl(8)).
constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr int kNoServer = 3;
constexpr int kForbidden = 4;

class Control : public ::testing::Test {
 protected:
  std::string socket_path() { return server.dir().file("control.sock"); }

  nlohmann::json config() {
    auto c = server.default_config();
    c["control"] = {{"socket", socket_path()}};
    return c;
  }

  void start() { ASSERT_TRUE(server.start(config())); }

  ChildResult ctl(std::vector<std::string> args, const std::string& socket = "") {
    std::vector<std::string> argv{kParleyctl, "--socket", socket.empty() ? socket_path() : socket};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_child(std::move(argv), "");
  }

  // `parleyctl --json ARGS`, which must succeed; its reply.
  nlohmann::json ctl_json(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    const auto run = ctl(std::move(args));
    EXPECT_EQ(run.status.code, 0) << run.status << "\n" << run.err;
    auto reply = nlohmann::json::parse(run.out, nullptr, false);
    EXPECT_TRUE(reply.is_object() && reply.value("ok", false)) << run.out;
    return reply.is_discarded() ? nlohmann::json::object() : reply;
  }

  void join(TestClient& client, const std::string& room) {
    ASSERT_TRUE(client.send(req::Body{req::Join{room}}, RequestId{std::int64_t{1}}));
    client.expect<evt::Ack>();
  }

  static HandshakeOptions with_identity() {
    HandshakeOptions options;
    options.identity = client_identity_key();
    return options;
  }

  ServerProcess server;
};

TEST_F(Control, TheSocketIsTheOwnersOnly) {
  start();
  ASSERT_TRUE(server.wait_for_event("control_listening").has_value());
  struct stat st {};
  ASSERT_EQ(::lstat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  server.signal(SIGTERM);
  EXPECT_TRUE(server.wait_exit().clean());
  EXPECT_NE(::access(socket_path().c_str(), F_OK), 0) << "the socket file outlived parleyd";
}

TEST_F(Control, StatusAndSessions) {
  start();
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port(), with_identity()));
  join(a, "lobby");

  const auto status = ctl_json({"status"});
  EXPECT_EQ(status["state"], "running");
  EXPECT_EQ(status["sessions"], 2);
  EXPECT_EQ(status["rooms"], 1);
  EXPECT_EQ(status["pid"], server.pid());
  EXPECT_EQ(status["fingerprint"], vector_server_fingerprint());
  EXPECT_EQ(status["listening"][0]["port"], server.port());

  const auto reply = ctl_json({"sessions"});
  ASSERT_EQ(reply["sessions"].size(), 2u) << reply;
  for (const auto& s : reply["sessions"]) {
    const bool is_a = s["nick"] == a.nick();
    EXPECT_TRUE(is_a || s["nick"] == b.nick()) << s;
    EXPECT_TRUE(s["peer"].get<std::string>().starts_with("127.0.0.1:")) << s;
    EXPECT_EQ(s["suite"], is_a ? a.welcome().suite : b.welcome().suite);
    EXPECT_EQ(s["rooms"], is_a ? nlohmann::json::array({"lobby"}) : nlohmann::json::array());
    EXPECT_GT(s["bytes_in"].get<std::uint64_t>(), 0u);
    EXPECT_GT(s["bytes_out"].get<std::uint64_t>(), 0u);
    EXPECT_TRUE(s["age_s"].is_number_unsigned() && s["idle_s"].is_number_unsigned()) << s;
    EXPECT_EQ(s.contains("fingerprint"), !is_a) << s;
  }

  // The table, for people: a header and one row per session.
  const auto table = ctl({"sessions"});
  EXPECT_EQ(table.status.code, 0) << table.err;
  EXPECT_TRUE(table.out.starts_with("ID")) << table.out;
  EXPECT_NE(table.out.find(a.nick()), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("lobby"), std::string::npos) << table.out;
  const auto status_table = ctl({"status"});
  EXPECT_EQ(status_table.status.code, 0) << status_table.err;
  EXPECT_NE(status_table.out.find("sessions"), std::string::npos) << status_table.out;
}

TEST_F(Control, KickClosesWithCode12AndTheRoomSeesAQuit) {
  start();
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  join(a, "lobby");
  join(b, "lobby");
  a.expect<evt::Joined>();  // b joined
  const auto mark = server.log_mark();

  const auto reply = ctl_json({"kick", b.nick(), "spamming"});
  EXPECT_EQ(reply["nick"], b.nick());
  const auto closed = b.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::kicked) << closed;
  EXPECT_EQ(closed.reason, "spamming");
  const auto quit = a.wait_for<evt::Quit>([&](const evt::Quit& q) { return q.nick == b.nick(); });
  ASSERT_TRUE(quit);
  EXPECT_EQ(quit->reason, "kicked");
  // Logged, without the operator's words.
  const auto kick = server.wait_for_event("kick", kDefaultTimeout, mark);
  ASSERT_TRUE(kick);
  EXPECT_EQ((*kick)["nick"], b.nick());
  EXPECT_EQ((*kick)["reason_bytes"], 8);
  EXPECT_EQ(kick->dump().find("spamming"), std::string::npos) << *kick;

  const auto nobody = ctl({"kick", "nobody-here"});
  EXPECT_EQ(nobody.status.code, kRefused) << nobody.status;
  EXPECT_NE(nobody.err.find("no session"), std::string::npos) << nobody.err;
  a.expect_alive();
}

TEST_F(Control, AnAddressBanRefusesAtAcceptAndEndsItsSessions) {
  start();
  TestClient before;  // from the address about to be banned
  ASSERT_TRUE(before.open(server.port(), {}, {.source_address = "127.0.0.2"}));

  const auto reply = ctl_json({"ban", "127.0.0.2", "1h"});
  EXPECT_EQ(reply["kind"], "address");
  EXPECT_EQ(reply["target"], "127.0.0.2");
  EXPECT_EQ(reply["sessions_ended"], 1);
  EXPECT_TRUE(reply["expires"].is_number_integer()) << reply;
  const auto ended = before.wait_closed();
  EXPECT_TRUE(ended.close_record && ended.code == StatusCode::kicked) << ended;

  // Refused at accept: closed before a byte is read, so not even an Error frame comes back.
  const auto mark = server.log_mark();
  TestClient banned;
  ASSERT_TRUE(banned.connect(server.port(), {.source_address = "127.0.0.2"}));
  EXPECT_FALSE(banned.read_error_frame());
  EXPECT_TRUE(banned.eof());
  const auto refused = server.wait_for_event("admission_refused", kDefaultTimeout, mark);
  ASSERT_TRUE(refused);
  EXPECT_EQ((*refused)["reason"], "address banned");
  EXPECT_TRUE(server.events("session_open", mark).empty()) << "a banned address got a session";

  // Others still get in, and the ban is listed.
  TestClient other;
  ASSERT_TRUE(other.open(server.port()));
  const auto bans = ctl_json({"bans"});
  ASSERT_EQ(bans["bans"].size(), 1u) << bans;
  EXPECT_EQ(bans["bans"][0]["target"], "127.0.0.2");

  // Lifted: the address is welcome again.
  EXPECT_EQ(ctl_json({"unban", "127.0.0.2"})["target"], "127.0.0.2");
  TestClient after;
  EXPECT_TRUE(after.open(server.port(), {}, {.source_address = "127.0.0.2"}));
  const auto again = ctl({"unban", "127.0.0.2"});
  EXPECT_EQ(again.status.code, kRefused) << again.err;
}

TEST_F(Control, AFingerprintBanRefusesTheKeyAtItsFinished) {
  start();
  TestClient keyed;
  ASSERT_TRUE(keyed.open(server.port(), with_identity()));
  const auto reply = ctl_json({"ban", client_identity_fingerprint()});
  EXPECT_EQ(reply["kind"], "fingerprint");
  EXPECT_TRUE(reply["expires"].is_null()) << reply;
  EXPECT_EQ(reply["sessions_ended"], 1);
  const auto ended = keyed.wait_closed();
  EXPECT_TRUE(ended.close_record && ended.code == StatusCode::kicked) << ended;

  const auto mark = server.log_mark();
  TestClient again;
  ASSERT_TRUE(again.connect(server.port()));
  const auto outcome = again.handshake(with_identity());
  EXPECT_FALSE(outcome.established);
  ASSERT_TRUE(outcome.failure) << outcome.what;
  EXPECT_EQ(outcome.failure->code, StatusCode::auth_failed) << outcome.what;
  const auto refused = server.wait_for_event("ban_refused", kDefaultTimeout, mark);
  ASSERT_TRUE(refused);
  EXPECT_EQ((*refused)["fingerprint"], client_identity_fingerprint());

  TestClient anonymous;
  EXPECT_TRUE(anonymous.open(server.port()));
}

TEST_F(Control, BansSurviveARestart) {
  start();
  ctl_json({"ban", "127.0.0.3", "2d"});
  ctl_json({"ban", client_identity_fingerprint()});
  server.signal(SIGTERM);
  ASSERT_TRUE(server.wait_exit().clean());

  // A second server on the same identity key, so on the same state directory.
  ServerProcess next;
  auto c = next.default_config();
  c["identity_key"] = server.dir().file("identity.pem");
  c["control"] = {{"socket", next.dir().file("control.sock")}};
  ASSERT_TRUE(next.start(c));
  const auto run =
      run_child({kParleyctl, "--socket", next.dir().file("control.sock"), "--json", "bans"}, "");
  ASSERT_EQ(run.status.code, 0) << run.err;
  const auto bans = nlohmann::json::parse(run.out)["bans"];
  ASSERT_EQ(bans.size(), 2u) << bans;
  EXPECT_EQ(bans[0]["target"], "127.0.0.3");  // in target order
  EXPECT_EQ(bans[1]["target"], client_identity_fingerprint());
  TestClient banned;
  ASSERT_TRUE(banned.connect(next.port(), {.source_address = "127.0.0.3"}));
  EXPECT_FALSE(banned.read_error_frame());
  EXPECT_TRUE(banned.eof());
}

// Ban changes are written off the event loop, one at a time: as many operators as the socket
// serves at once (4) banning at the same moment all end up in force and in the file, and a
// client gets in meanwhile.
TEST_F(Control, BansMadeAtOnceAreAllKept) {
  start();
  std::vector<std::unique_ptr<ChildProcess>> operators;
  for (int i = 0; i < 4; ++i)
    operators.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
        kParleyctl, "--socket", socket_path(), "--json", "ban", "10.0.0." + std::to_string(i)}));
  TestClient client;
  EXPECT_TRUE(client.open(server.port()));
  for (auto& op : operators) {
    const auto status = op->wait_exit();
    EXPECT_EQ(status.code, 0) << status << " " << op->stderr_text() << op->stdout_text();
  }
  const auto bans = ctl_json({"bans"})["bans"];
  EXPECT_EQ(bans.size(), 4u) << bans;
  // And in the file, which the next start reads.
  std::ifstream in(server.dir().file("bans.json"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (int i = 0; i < 4; ++i)
    EXPECT_NE(text.find("\"10.0.0." + std::to_string(i) + "\""), std::string::npos) << text;
}

TEST_F(Control, NoticeToEveryoneOrToOneRoom) {
  start();
  TestClient a, b;
  ASSERT_TRUE(a.open(server.port()));
  ASSERT_TRUE(b.open(server.port()));
  EXPECT_NE(std::find(a.welcome().features.begin(), a.welcome().features.end(), "notice"),
            a.welcome().features.end());
  join(a, "ops");

  EXPECT_EQ(ctl_json({"notice", "maintenance at 10"})["recipients"], 2);
  for (TestClient* c : {&a, &b}) {
    const auto notice = c->expect<evt::Notice>();
    EXPECT_EQ(notice.text, "maintenance at 10");
    EXPECT_FALSE(notice.room);
  }
  const auto mark = server.log_mark();
  EXPECT_EQ(ctl_json({"notice", "--room", "ops", "ops only"})["recipients"], 1);
  const auto to_room = a.expect<evt::Notice>();
  EXPECT_EQ(to_room.text, "ops only");
  EXPECT_EQ(to_room.room, "ops");
  b.expect_alive();  // nothing else came first
  const auto logged = server.wait_for_event("notice", kDefaultTimeout, mark);
  ASSERT_TRUE(logged);
  EXPECT_EQ((*logged)["text_bytes"], 8);
  EXPECT_EQ(logged->dump().find("ops only"), std::string::npos) << *logged;

  const auto no_room = ctl({"notice", "--room", "nowhere", "hello"});
  EXPECT_EQ(no_room.status.code, kRefused) << no_room.err;
  const auto control_char = ctl({"notice", "bell\x07"});
  EXPECT_EQ(control_char.status.code, kRefused) << control_char.err;
}

TEST_F(Control, DrainSaysGoawayClosesAndExits) {
  start();
  TestClient a;
  ASSERT_TRUE(a.open(server.port()));
  EXPECT_EQ(ctl_json({"drain"})["sessions"], 1);
  const auto goaway = a.wait_for<evt::GoAway>();
  ASSERT_TRUE(goaway);
  EXPECT_LT(goaway->reconnect_after_ms, 1000u);
  const auto closed = a.wait_closed();
  EXPECT_TRUE(closed.close_record && closed.code == StatusCode::normal) << closed;
  EXPECT_TRUE(server.wait_exit().clean());
  EXPECT_TRUE(server.wait_for_event("drain").has_value());
  // Gone with the server: nobody to talk to.
  const auto after = ctl({"status"});
  EXPECT_EQ(after.status.code, kNoServer) << after.err;
}

TEST_F(Control, BadUsageAndBadArguments) {
  start();
  EXPECT_EQ(ctl({}).status.code, kUsage);
  EXPECT_EQ(ctl({"frobnicate"}).status.code, kUsage);
  EXPECT_EQ(ctl({"kick"}).status.code, kUsage);
  EXPECT_EQ(ctl({"ban", "not-an-address"}).status.code, kRefused);
  EXPECT_EQ(ctl({"ban", "127.0.0.9", "forever"}).status.code, kRefused);
  EXPECT_EQ(ctl({"status"}, server.dir().file("no-such.sock")).status.code, kNoServer);
  EXPECT_TRUE(server.running());
}

TEST_F(Control, AUserWhoIsNotAllowedIsRefusedAndLogged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run parleyctl as another user";
  start();
  // Open the socket itself (for this test only) so the connect reaches the credential check,
  // and the path to it.
  ASSERT_EQ(::chmod(socket_path().c_str(), 0666), 0);
  ASSERT_EQ(::chmod(server.dir().path().c_str(), 0755), 0);
  const auto mark = server.log_mark();
  const auto run =
      run_child({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", kParleyctl,
                 "--socket", socket_path(), "--json", "status"},
                "");
  EXPECT_EQ(run.status.code, kForbidden) << run.status << "\n" << run.out << run.err;
  const auto reply = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_TRUE(reply.is_object()) << run.out << run.err;
  EXPECT_EQ(reply["code"], "forbidden") << reply;  // the server's answer, not the file's mode
  const auto refused = server.wait_for_event("control_refused", kDefaultTimeout, mark);
  ASSERT_TRUE(refused);
  EXPECT_EQ((*refused)["uid"], 65534);
  // The owner still gets in.
  EXPECT_EQ(ctl_json({"status"})["state"], "running");
}

}  // namespace
}  // namespace parley::it
