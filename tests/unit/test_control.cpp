// The admin socket's pure parts: bans (targets, durations, expiry, the file form), the request
// and reply lines, and parleyctl's exit statuses and tables.
#include <gtest/gtest.h>

#include <variant>

#include "ban_list.hpp"
#include "control_protocol.hpp"
#include "control_socket.hpp"
#include "ctl_output.hpp"

namespace parley::server {
namespace {

constexpr std::string_view kFingerprint = "SHA256:ZekfR+rAavpEsi2vVqIXi2hEJdICtTri95ONAbBmTkQ";

Ban target_ok(std::string_view text) {
  auto parsed = parse_ban_target(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << text << ": " << *error;
    return {};
  }
  return std::get<Ban>(parsed);
}

TEST(BanTarget, AddressesAreCanonicalAndFingerprintsExact) {
  EXPECT_EQ(target_ok("127.0.0.2"), (Ban{Ban::Kind::address, "127.0.0.2", std::nullopt}));
  EXPECT_EQ(target_ok("0:0::1").target, "::1");
  EXPECT_EQ(target_ok("2001:DB8::1").target, "2001:db8::1");
  EXPECT_EQ(target_ok(kFingerprint).kind, Ban::Kind::fingerprint);
  for (std::string_view bad : {"", "localhost", "127.0.0.256", "fe80::1%eth0", "SHA256:short",
                               "SHA256:ZekfR+rAavpEsi2vVqIXi2hEJdICtTri95ONAbBmTkR"})
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_ban_target(bad))) << bad;
}

TEST(BanDuration, UnitsAndBounds) {
  EXPECT_EQ(parse_duration("90"), 90u);
  EXPECT_EQ(parse_duration("90s"), 90u);
  EXPECT_EQ(parse_duration("15m"), 900u);
  EXPECT_EQ(parse_duration("2h"), 7200u);
  EXPECT_EQ(parse_duration("7d"), 7u * 86400);
  EXPECT_EQ(parse_duration("2w"), 14u * 86400);
  EXPECT_EQ(parse_duration("3660d"), 3660u * 86400);
  for (std::string_view bad :
       {"", "0", "0m", "-5", "h", "5x", "1.5h", " 5", "3661d", "99999999999w"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(BanList, ExpiryKindsAndRemoval) {
  BanList bans;
  bans.add({Ban::Kind::address, "127.0.0.2", std::nullopt});
  bans.add({Ban::Kind::address, "127.0.0.3", 100});
  bans.add({Ban::Kind::fingerprint, std::string(kFingerprint), std::nullopt});
  EXPECT_TRUE(bans.address_banned("127.0.0.2", 1000));
  EXPECT_TRUE(bans.address_banned("127.0.0.3", 99));
  EXPECT_FALSE(bans.address_banned("127.0.0.3", 100));
  EXPECT_FALSE(bans.address_banned(kFingerprint, 0));  // the kinds do not mix
  EXPECT_TRUE(bans.fingerprint_banned(kFingerprint, 0));
  EXPECT_FALSE(bans.fingerprint_banned("127.0.0.2", 0));
  EXPECT_TRUE(bans.drop_expired(100));
  EXPECT_FALSE(bans.drop_expired(100));
  EXPECT_EQ(bans.all().size(), 2u);
  // A new ban of a target replaces the old one.
  bans.add({Ban::Kind::address, "127.0.0.2", 50});
  EXPECT_FALSE(bans.address_banned("127.0.0.2", 60));
  EXPECT_TRUE(bans.remove("127.0.0.2"));
  EXPECT_FALSE(bans.remove("127.0.0.2"));
  EXPECT_EQ(bans.all().size(), 1u);
}

TEST(BanList, FileFormRoundTripsAndDropsExpired) {
  BanList bans;
  bans.add({Ban::Kind::address, "::1", 500});
  bans.add({Ban::Kind::address, "10.0.0.1", 50});
  bans.add({Ban::Kind::fingerprint, std::string(kFingerprint), std::nullopt});
  auto back = BanList::from_json(bans.to_json(), 100);
  ASSERT_TRUE(std::holds_alternative<BanList>(back)) << std::get<std::string>(back);
  const auto all = std::get<BanList>(back).all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], (Ban{Ban::Kind::address, "::1", 500}));
  EXPECT_EQ(all[1], (Ban{Ban::Kind::fingerprint, std::string(kFingerprint), std::nullopt}));
  for (std::string_view bad :
       {"", "[]", "{}", R"({"bans": {}})", R"({"bans": [5]})",
        R"({"bans": [{"kind": "address", "target": "nope"}]})",
        R"({"bans": [{"kind": "fingerprint", "target": "127.0.0.1"}]})",
        R"({"bans": [{"kind": "address", "target": "127.0.0.1", "expires": "soon"}]})"})
    EXPECT_TRUE(std::holds_alternative<std::string>(BanList::from_json(bad, 0))) << bad;
}

ControlRequest request_ok(std::string_view line) {
  auto parsed = parse_control_request(line);
  if (auto* error = std::get_if<ControlError>(&parsed)) {
    ADD_FAILURE() << line << ": " << error->message;
    return {};
  }
  return std::get<ControlRequest>(parsed);
}

ControlError request_bad(std::string_view line) {
  auto parsed = parse_control_request(line);
  if (std::holds_alternative<ControlRequest>(parsed)) {
    ADD_FAILURE() << "accepted: " << line;
    return {};
  }
  return std::get<ControlError>(parsed);
}

TEST(ControlRequest, RoundTripsEveryVerb) {
  std::vector<ControlRequest> all;
  for (auto verb :
       {ControlVerb::status, ControlVerb::sessions, ControlVerb::bans, ControlVerb::drain}) {
    ControlRequest r;
    r.verb = verb;
    all.push_back(r);
  }
  ControlRequest kick;
  kick.verb = ControlVerb::kick;
  kick.nick = "alice";
  kick.reason = "flooding the room";
  ControlRequest ban;
  ban.verb = ControlVerb::ban;
  ban.target = "127.0.0.2";
  ban.duration = "1h";
  ControlRequest unban;
  unban.verb = ControlVerb::unban;
  unban.target = "127.0.0.2";
  ControlRequest notice;
  notice.verb = ControlVerb::notice;
  notice.text = "maintenance at 10 — ten minutes";
  notice.room = "lobby";
  for (const auto& r : {kick, ban, unban, notice})
    all.push_back(r);
  for (const auto& r : all) {
    const std::string line = serialize_control_request(r);
    ASSERT_TRUE(line.ends_with('\n'));
    EXPECT_EQ(request_ok(std::string_view(line).substr(0, line.size() - 1)), r) << line;
  }
}

TEST(ControlRequest, RefusesWhatIsMalformed) {
  EXPECT_EQ(request_bad("").code, control_code::kBadRequest);
  EXPECT_EQ(request_bad("[]").code, control_code::kBadRequest);
  EXPECT_EQ(request_bad(R"({"verb": 5})").message, "\"verb\" must be a string");
  EXPECT_EQ(request_bad(R"({"verb": "reboot"})").message, "unknown verb");
  EXPECT_EQ(request_bad(R"({"verb": "kick"})").message, "\"nick\" is required");
  EXPECT_NE(request_bad(R"({"verb": "kick", "nick": "a b"})").message.find("not a nick"),
            std::string::npos);
  EXPECT_NE(request_bad(R"({"verb": "kick", "nick": "a", "reason": "x\u001b[2J"})")
                .message.find("control"),
            std::string::npos);
  EXPECT_NE(request_bad(R"({"verb": "notice", "text": "x", "room": "#ops"})").message.find("room"),
            std::string::npos);
  EXPECT_EQ(request_bad(R"({"verb": "ban"})").message, "\"target\" is required");
  EXPECT_EQ(request_bad(std::string(kMaxControlRequestBytes + 1, ' ')).message, "request too long");
}

TEST(ControlRequest, OperatorTextRules) {
  EXPECT_FALSE(check_operator_text("maintenance at 10", 100));
  EXPECT_FALSE(check_operator_text("ünïcode", 100));
  EXPECT_TRUE(check_operator_text("", 100));
  EXPECT_TRUE(check_operator_text(std::string(101, 'x'), 100));
  EXPECT_TRUE(check_operator_text("line\nbreak", 100));
  EXPECT_TRUE(check_operator_text("del\x7f", 100));
}

TEST(ControlReply, OkAndErrorLines) {
  EXPECT_EQ(control_reply_ok({{"sessions", 3}}), "{\"ok\":true,\"sessions\":3}\n");
  EXPECT_EQ(control_reply_error({control_code::kNotFound, "no such room"}),
            "{\"ok\":false,\"code\":\"not_found\",\"error\":\"no such room\"}\n");
  // Never an exception over bytes that are not UTF-8.
  EXPECT_NO_THROW(control_reply_ok({{"nick", std::string("\xff\xfe")}}));
}

TEST(ControlPeer, RootAndTheDaemonsUserOnly) {
  EXPECT_TRUE(control_peer_allowed({0, 1}, 999));
  EXPECT_TRUE(control_peer_allowed({999, 1}, 999));
  EXPECT_FALSE(control_peer_allowed({1000, 1}, 999));
  EXPECT_FALSE(control_peer_allowed({65534, 1}, 0));
}

}  // namespace
}  // namespace parley::server

namespace parley::ctl {
namespace {

TEST(CtlOutput, ExitStatuses) {
  EXPECT_EQ(exit_status(nlohmann::json::parse(R"({"ok":true})")), kExitOk);
  EXPECT_EQ(exit_status(nlohmann::json::parse(R"({"ok":false,"code":"not_found"})")), kExitRefused);
  EXPECT_EQ(exit_status(nlohmann::json::parse(R"({"ok":false,"code":"forbidden"})")),
            kExitForbidden);
  EXPECT_EQ(exit_status(nlohmann::json::parse("[]")), kExitNoServer);
}

TEST(CtlOutput, Durations) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(59), "59s");
  EXPECT_EQ(format_duration(60), "1m00s");
  EXPECT_EQ(format_duration(3599), "59m59s");
  EXPECT_EQ(format_duration(3600 + 7 * 60), "1h07m");
  EXPECT_EQ(format_duration(2 * 86400 + 4 * 3600 + 5), "2d04h");
}

TEST(CtlOutput, SessionsTableAndRefusals) {
  const auto reply = nlohmann::json::parse(R"({"ok":true,"sessions":[
    {"id":1,"nick":"alice","peer":"127.0.0.1:4000","suite":"AES-256-GCM","rooms":["lobby","ops"],
     "bytes_in":10,"bytes_out":20,"age_s":75,"idle_s":3},
    {"id":12,"nick":"guest-00ff","peer":"[::1]:4001","suite":"CHACHA20-POLY1305","rooms":[],
     "bytes_in":1,"bytes_out":2,"age_s":1,"idle_s":1}]})");
  EXPECT_EQ(render(server::ControlVerb::sessions, reply, 0),
            "ID  NICK        PEER            SUITE              IN  OUT  AGE    IDLE  ROOMS\n"
            "1   alice       127.0.0.1:4000  AES-256-GCM        10  20   1m15s  3s    lobby,ops\n"
            "12  guest-00ff  [::1]:4001      CHACHA20-POLY1305  1   2    1s     1s    -\n");
  EXPECT_EQ(
      render(server::ControlVerb::kick,
             nlohmann::json::parse(R"({"ok":false,"code":"not_found","error":"no\u001b[2J"})"), 0),
      "error: no?[2J\n");
}

TEST(CtlOutput, BansTable) {
  const auto reply = nlohmann::json::parse(
      R"({"ok":true,"bans":[{"kind":"address","target":"127.0.0.2","expires":90},
                            {"kind":"fingerprint","target":"SHA256:x","expires":null}]})");
  EXPECT_EQ(render(server::ControlVerb::bans, reply, 0),
            "KIND         TARGET     EXPIRES\n"
            "address      127.0.0.2  1970-01-01T00:01:30Z (in 1m30s)\n"
            "fingerprint  SHA256:x   never\n");
}

}  // namespace
}  // namespace parley::ctl
