#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "event_log.hpp"

namespace parley::server {
namespace {

std::vector<nlohmann::json> lines_of(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(EventLog, OneJsonObjectPerEventWithTsLevelEvent) {
  std::ostringstream sink;
  EventLog log(LogOptions{}, sink);
  log.listening("127.0.0.1", 7777, "SHA256:abc");
  log.handshake_ok(3, "127.0.0.1:5000", "AES-256-GCM", "", 12);
  log.session_close(3, "127.0.0.1:5000", "alice", "normal", "bye", {10, 20, 1, 2, 30});
  log.flush();
  const auto lines = lines_of(sink.str());
  ASSERT_EQ(lines.size(), 3u);
  const std::regex ts(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  for (const auto& j : lines) {
    EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), ts)) << j;
    EXPECT_EQ(j["level"], "info");
  }
  EXPECT_EQ(lines[0]["event"], "listening");
  EXPECT_EQ(lines[0]["port"], 7777);
  EXPECT_EQ(lines[0]["fingerprint"], "SHA256:abc");
  EXPECT_EQ(lines[1]["suite"], "AES-256-GCM");
  EXPECT_FALSE(lines[1].contains("client_fingerprint")) << "absent optional fields are omitted";
  EXPECT_EQ(lines[2]["bytes_out"], 20);
  EXPECT_EQ(lines[2]["duration_ms"], 30);
}

// A metrics endpoint off loopback is worth a warning: it tells anyone who connects how busy the
// server is.
TEST(EventLog, MetricsListeningWarnsOffLoopback) {
  std::ostringstream sink;
  EventLog log(LogOptions{LogFormat::json, "warn", std::nullopt}, sink);
  log.metrics_listening("127.0.0.1", 9477, true);  // info: hidden at warn
  log.metrics_listening("0.0.0.0", 9477, false);
  log.flush();
  const auto lines = lines_of(sink.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["event"], "metrics_listening");
  EXPECT_EQ(lines[0]["level"], "warn");
  EXPECT_EQ(lines[0]["address"], "0.0.0.0");
  EXPECT_EQ(lines[0]["port"], 9477);
  EXPECT_EQ(lines[0]["loopback"], false);
}

TEST(EventLog, LevelsFilterAndChange) {
  std::ostringstream sink;
  EventLog log(LogOptions{LogFormat::json, "info", std::nullopt}, sink);
  log.join(1, "alice", "lobby");  // debug: hidden at info
  log.flush();
  EXPECT_EQ(sink.str(), "");
  log.set_level("debug");
  log.join(1, "alice", "lobby");
  log.flush();
  ASSERT_EQ(lines_of(sink.str()).size(), 1u);
  EXPECT_EQ(lines_of(sink.str())[0]["level"], "debug");
  EXPECT_THROW(log.set_level("loud"), std::runtime_error);
  log.reload(false, {}, {}, "limits.rate: expected a number");
  log.flush();
  EXPECT_EQ(lines_of(sink.str()).back()["level"], "error");
}

// Every line is JSON, the identity key's creation included; a reload whose change waits for a
// restart is a warning, since the operator may believe it applied.
TEST(EventLog, IdentityKeyAndRestartOnlyReloads) {
  std::ostringstream sink;
  EventLog log(LogOptions{}, sink);
  log.identity_key("/var/lib/parleyd/identity.pem", true, false);
  log.identity_key("/etc/parley/id.pem", false, true);
  log.identity_key("/etc/parley/quiet.pem", false, false);  // nothing to say
  log.reload(true, {"limits.rate"}, {}, "");
  log.reload(true, {"listen", "limits.rate"}, {"listen"}, "");
  const auto lines = lines_of(sink.str());
  ASSERT_EQ(lines.size(), 4u) << sink.str();
  EXPECT_EQ(lines[0]["event"], "identity_key_created");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["path"], "/var/lib/parleyd/identity.pem");
  EXPECT_EQ(lines[1]["event"], "identity_key_too_open");
  EXPECT_EQ(lines[1]["level"], "warn");
  EXPECT_EQ(lines[2]["level"], "info");
  EXPECT_EQ(lines[3]["level"], "warn");
  EXPECT_EQ(lines[3]["need_restart"], nlohmann::json::array({"listen"}));
}

TEST(EventLog, TextFormatAndBadUtf8) {
  std::ostringstream sink;
  EventLog log(LogOptions{LogFormat::text, "info", std::nullopt}, sink);
  log.handshake_failed(9, "[::1]:4000", "bad_key", "transport key \xff\xfe too short");
  log.flush();
  const std::string line = sink.str();
  EXPECT_NE(line.find(" info handshake_failed "), std::string::npos) << line;
  EXPECT_NE(line.find("session=9"), std::string::npos) << line;
  EXPECT_NE(line.find("code=bad_key"), std::string::npos) << line;
  // The bytes that are not UTF-8 come out as U+FFFD each, escaped, inside the quoted value: the
  // line stays ASCII and the field stays one field.
  EXPECT_NE(line.find("reason=\"transport key \\ufffd\\ufffd too short\""), std::string::npos)
      << line;
  EXPECT_EQ(line.find('\xff'), std::string::npos) << line;
}

// What a peer chooses (here a close record's reason) reaches neither format raw: DEL, a C1
// control (U+009B, CSI), a line separator, a bidi override, an escape sequence. Each comes out
// as a \u escape that jq turns back into what was sent; and the length is bounded.
TEST(EventLog, PeerTextIsEscapedAndBounded) {
  const std::string hostile =
      "a\x7f b\xC2\x9B"
      "31m c\xE2\x80\xA8 d\xE2\x80\xAE e\x1b]0;owned\x07 f\r\n";
  for (const auto format : {LogFormat::json, LogFormat::text}) {
    std::ostringstream sink;
    EventLog log(LogOptions{format, "info", std::nullopt}, sink);
    EventLog::SessionCounters counters{};
    log.session_close(1, "127.0.0.1:1", "alice", "normal", hostile, counters);
    log.session_close(2, "127.0.0.1:2", "bob", "normal", std::string(5000, 'x'), counters);
    log.flush();
    std::vector<std::string> lines;
    std::istringstream in(sink.str());
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    ASSERT_EQ(lines.size(), 2u) << sink.str();
    for (const auto& line : lines)
      for (const unsigned char c : line)
        ASSERT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(c) << " in " << line;
    if (format == LogFormat::json) {
      const auto j = nlohmann::json::parse(lines[0]);
      EXPECT_EQ(j["reason"], hostile) << "the escapes read back as what the peer sent";
      const auto long_reason = nlohmann::json::parse(lines[1])["reason"].get<std::string>();
      EXPECT_EQ(long_reason, std::string(200, 'x') + "...(5000 bytes)");
    } else {
      EXPECT_NE(lines[0].find("\\u007f"), std::string::npos) << lines[0];
      EXPECT_NE(lines[0].find("\\u202e"), std::string::npos) << lines[0];
    }
  }
}

TEST(EventLog, FileSinkReopensForLogrotate) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("parley-log-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "parleyd.log";
  {
    EventLog log(LogOptions{LogFormat::json, "info", file.string()});
    log.shutdown("SIGTERM", 1);
    log.flush();
    fs::rename(file, dir / "parleyd.log.1");  // what logrotate does
    log.reopen();
    log.shutdown("SIGINT", 2);
    log.flush();
  }
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return lines_of(s.str());
  };
  const auto rotated = read(dir / "parleyd.log.1");
  const auto current = read(file);
  ASSERT_EQ(rotated.size(), 1u);
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(rotated[0]["signal"], "SIGTERM");
  EXPECT_EQ(current[0]["signal"], "SIGINT");
  fs::remove_all(dir);
  EXPECT_THROW(EventLog(LogOptions{LogFormat::json, "info", "/proc/parley-no-such-dir/x.log"}),
               std::runtime_error);
}

}  // namespace
}  // namespace parley::server
