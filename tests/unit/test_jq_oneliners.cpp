// The jq one-liners the README and docs/logging.md give operators, run with the real jq on lines
// the real EventLog wrote: an event or field renamed in the code breaks this test, not an
// operator's pager at 3 a.m. Each program must appear verbatim in both documents.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "event_log.hpp"

namespace parley::server {
namespace {

struct OneLiner {
  std::string flags;    // jq's options, as written in the docs
  std::string program;  // the jq program between single quotes
};

// Failed handshakes per peer address (the port stripped), and slow consumers with who and how
// much. `fromjson?` skips the few plain-text lines parleyd writes before its log is up.
const OneLiner kFailedHandshakes{
    "-rR", R"(fromjson? | select(.event=="handshake_failed") | .peer | sub(":[0-9]+$";""))"};
const OneLiner kSlowConsumers{
    "-cR", R"(fromjson? | select(.event=="slow_consumer") | {ts, peer, nick, unsent_bytes})"};
const OneLiner kWarnings{"-cR", R"(fromjson? | select(.level=="warn" or .level=="error"))"};
const OneLiner kSuites{"-rR", R"(fromjson? | select(.event=="handshake_ok") | .suite)"};
// Clients that left without a word after the ServerHello, per IPv4 /24.
const OneLiner kLeftAfterServerHello{
    "-rR",
    R"(fromjson? | select(.event=="handshake_failed" and (.reason | startswith("client closed after the ServerHello"))) | .peer | sub("\\.[0-9]+:[0-9]+$";".0/24"))"};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs jq on `input` (a file); returns its stdout, or fails the test.
std::string run_jq(const OneLiner& o, const std::string& input) {
  if (std::system("command -v jq >/dev/null 2>&1") != 0) {
    ADD_FAILURE() << "jq not found: install the 'jq' package (scripts/install-deps.sh does)";
    return {};
  }
  const std::string command = "jq " + o.flags + " '" + o.program + "' " + input;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return {};
  }
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_EQ(status, 0) << command;
  return out;
}

class JqOneLiners : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/parley-jq-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    std::ostringstream sink;
    EventLog log(LogOptions{}, sink);
    log.listening("0.0.0.0", 7777, "SHA256:abc");
    log.handshake_failed(1, "192.0.2.7:40512", "bad_signature", "finished does not verify");
    log.handshake_failed(2, "192.0.2.7:40514", "timeout", "no ClientHello in time");
    log.handshake_ok(3, "198.51.100.1:5000", "CHACHA20-POLY1305", "", 4);
    log.handshake_failed(4, "[2001:db8::1]:6000", "bad_message", "not a ClientHello");
    log.slow_consumer(3, "198.51.100.1:5000", "bob", 1048600, std::nullopt);
    for (const char* peer : {"203.0.113.5:1000", "203.0.113.9:1001", "198.51.100.1:5001"})
      log.handshake_failed(5, peer, "none",
                           "client closed after the ServerHello (did it refuse the server's key?)");
    log.session_close(3, "198.51.100.1:5000", "bob", "policy", "slow consumer", {1, 2, 3, 4, 5});
    log.flush();
    // What journalctl -o cat may also show: a plain line parleyd writes when it cannot start.
    log_file_ = dir_ + "/journal.txt";
    std::ofstream(log_file_) << "parleyd: /etc/parley/parleyd.json: limits.rate: bad\n"
                             << sink.str();
  }
  void TearDown() override {
    std::remove(log_file_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
  std::string log_file_;
};

TEST_F(JqOneLiners, AppearVerbatimInTheDocs) {
  const std::string readme = read_file(PARLEY_SOURCE_DIR "/README.md");
  const std::string logging = read_file(PARLEY_SOURCE_DIR "/docs/logging.md");
  ASSERT_FALSE(readme.empty());
  ASSERT_FALSE(logging.empty());
  for (const auto* o :
       {&kFailedHandshakes, &kSlowConsumers, &kWarnings, &kSuites, &kLeftAfterServerHello}) {
    const std::string quoted = "jq " + o->flags + " '" + o->program + "'";
    EXPECT_NE(readme.find(quoted), std::string::npos) << "README.md lacks: " << quoted;
    EXPECT_NE(logging.find(quoted), std::string::npos) << "docs/logging.md lacks: " << quoted;
  }
}

TEST_F(JqOneLiners, FailedHandshakesPerPeer) {
  EXPECT_EQ(run_jq(kFailedHandshakes, log_file_),
            "192.0.2.7\n192.0.2.7\n[2001:db8::1]\n203.0.113.5\n203.0.113.9\n198.51.100.1\n");
}

TEST_F(JqOneLiners, ClientsThatLeftAfterTheServerHelloPerNetwork) {
  EXPECT_EQ(run_jq(kLeftAfterServerHello, log_file_),
            "203.0.113.0/24\n203.0.113.0/24\n198.51.100.0/24\n");
}

TEST_F(JqOneLiners, SlowConsumers) {
  const std::string out = run_jq(kSlowConsumers, log_file_);
  const auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["peer"], "198.51.100.1:5000");
  EXPECT_EQ(j["nick"], "bob");
  EXPECT_EQ(j["unsent_bytes"], 1048600);
  EXPECT_TRUE(j["ts"].is_string());
}

TEST_F(JqOneLiners, WarningsAndSuites) {
  const std::string warnings = run_jq(kWarnings, log_file_);
  EXPECT_NE(warnings.find("\"event\":\"slow_consumer\""), std::string::npos) << warnings;
  EXPECT_EQ(warnings.find("handshake_ok"), std::string::npos) << warnings;
  EXPECT_EQ(run_jq(kSuites, log_file_), "CHACHA20-POLY1305\n");
}

}  // namespace
}  // namespace parley::server
