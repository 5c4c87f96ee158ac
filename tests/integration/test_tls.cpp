// TLS listeners (docs/config.md "tls"): the real parley and parleyd, and independent TLS clients
// (openssl s_client, gnutls-cli), against certificates the test makes (test_pki.hpp).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "child_process.hpp"
#include "harness.hpp"
#include "test_pki.hpp"
#include "trickler.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

constexpr int kHandshake = 4;
const std::string kParley = PARLEY_CLIENT_PATH;

class TlsTest : public ::testing::Test {
 protected:
  // A TLS listener's config entry for this certificate (written to files named after `name`).
  nlohmann::json tls_listener(const std::string& name, const IssuedCert& cert,
                              const std::string& min_version = "1.2") {
    return {{"address", "127.0.0.1"},
            {"port", 0},
            {"tls",
             {{"cert", files_.write(name + ".crt", cert.cert_pem)},
              {"key", files_.write(name + ".key", cert.key_pem)},
              {"min_version", min_version}}}};
  }

  // Starts parleyd with a plain listener first, then these; tls_port(i) is the i-th TLS one.
  void start(const std::vector<nlohmann::json>& tls_listeners,
             nlohmann::json cfg = nlohmann::json()) {
    if (cfg.is_null()) cfg = server_.default_config();
    for (const auto& l : tls_listeners)
      cfg["listen"].push_back(l);
    ASSERT_TRUE(server_.start(cfg));
    // `listening` lines come in the config's order, one per listener (the predicate sees each
    // line once, in order).
    std::size_t seen = 0;
    ASSERT_TRUE(server_.wait_for_log([&](const nlohmann::json& j) {
      return j.value("event", "") == "listening" && ++seen == 1 + tls_listeners.size();
    }));
    const auto lines = server_.events("listening");
    for (std::size_t i = 1; i < lines.size(); ++i) {
      EXPECT_TRUE(lines[i].value("tls", false)) << lines[i];
      tls_ports_.push_back(lines[i].at("port").get<std::uint16_t>());
    }
  }
  std::uint16_t tls_port(std::size_t i = 0) const { return tls_ports_.at(i); }
  std::string tls_target(std::size_t i = 0) const {
    return "parleys://127.0.0.1:" + std::to_string(tls_port(i));
  }

  ChildResult parley(std::vector<std::string> args, const std::string& target,
                     std::string_view input = "hello\n",
                     std::map<std::string, std::string> extra_env = {}) {
    args.insert(args.begin(), {kParley, "--known-hosts", home_.file("known_hosts")});
    args.push_back(target);
    std::map<std::string, std::string> env = {{"HOME", home_.path()}, {"NO_COLOR", "1"}};
    env.insert(extra_env.begin(), extra_env.end());
    return run_child(std::move(args), input, env, milliseconds(30000 * kSlowdown));
  }
  std::string ca_file() { return files_.write("ca.pem", ca_.cert_pem()); }

  // openssl s_client up to the end of the TLS handshake (stdin is empty, so it then quits).
  ChildResult s_client(std::uint16_t port, std::vector<std::string> extra) {
    std::vector<std::string> args = {"/usr/bin/openssl", "s_client", "-connect",
                                     "127.0.0.1:" + std::to_string(port)};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_child(std::move(args), "", {}, milliseconds(20000));
  }

  std::unique_ptr<TestClient> watcher() {
    auto c = std::make_unique<TestClient>();
    EXPECT_TRUE(c->open(server_.port()));
    c->set_auto_pong(true);
    EXPECT_TRUE(c->send(req::Join{"lobby"}, RequestId{1}));
    c->expect<evt::Ack>();
    return c;
  }

  TempDir files_;
  TempDir home_;
  TestCa ca_{"Parley Test CA"};
  ServerProcess server_;
  std::vector<std::uint16_t> tls_ports_;
};

// Forces the client's TLS to 1.2 through OpenSSL's own configuration, as a system-wide crypto
// policy would: the client has no option for it, and needs none.
std::string tls12_only_openssl_conf(const TempDir& dir) {
  return dir.write("openssl-tls12.cnf",
                   "openssl_conf = default_conf\n"
                   "[default_conf]\nssl_conf = ssl_sect\n"
                   "[ssl_sect]\nsystem_default = system_default_sect\n"
                   "[system_default_sect]\nMaxProtocol = TLSv1.2\n");
}

TEST_F(TlsTest, EverySuiteOverBothTlsVersions) {
  start({tls_listener("server", ca_.issue("parleyd", {"localhost"}, "127.0.0.1"))});
  auto bob = watcher();
  const std::string tls12 = tls12_only_openssl_conf(files_);
  for (const std::string version : {"TLSv1.3", "TLSv1.2"}) {
    std::map<std::string, std::string> env;
    if (version == "TLSv1.2") env["OPENSSL_CONF"] = tls12;
    for (const std::string suite : {"AES-256-GCM", "CHACHA20-POLY1305", "IDEA-CTR-HMAC-SHA256"}) {
      const std::string text = "over " + version + " with " + suite;
      const auto mark = server_.log_mark();
      auto run = parley({"--batch", "--trust-new", "--ca", ca_file(), "--suite", suite},
                        tls_target(), text + "\n", env);
      ASSERT_EQ(run.status.code, 0) << version << " " << suite << ": " << run.err;
      auto m = bob->wait_for<evt::Message>();
      ASSERT_TRUE(m) << text;
      EXPECT_EQ(m->text, text);
      // This client's: the watcher's own handshake_ok (over TCP, no "tls") may be read after
      // the mark was taken.
      auto ok = server_.wait_for_log(
          [](const nlohmann::json& line) {
            return line.value("event", "") == "handshake_ok" && line.contains("tls");
          },
          kDefaultTimeout, mark);
      ASSERT_TRUE(ok);
      EXPECT_EQ(ok->value("suite", ""), suite);
      EXPECT_TRUE(ok->value("tls", "").starts_with(version + " ")) << *ok;
    }
  }
  // The Parley key is pinned inside TLS as over TCP: one known_hosts entry for the server.
  auto run = parley({"--batch", "--ca", ca_file()}, tls_target(), "pinned\n");
  EXPECT_EQ(run.status.code, 0) << run.err;
}

TEST_F(TlsTest, IndependentClientsCompleteTheHandshakeAndSeeAlpn) {
  start({tls_listener("server", ca_.issue("parleyd", {"localhost"}, "127.0.0.1")),
         tls_listener("server13", ca_.issue("parleyd", {"localhost"}, "127.0.0.1"), "1.3")});
  const std::string ca = ca_file();
  auto openssl = s_client(tls_port(), {"-alpn", "parley/1", "-CAfile", ca, "-verify_return_error"});
  EXPECT_EQ(openssl.status.code, 0) << openssl.err;
  EXPECT_NE(openssl.out.find("ALPN protocol: parley/1"), std::string::npos) << openssl.out;
  EXPECT_NE(openssl.out.find("Verify return code: 0 (ok)"), std::string::npos) << openssl.out;

  // TLS 1.2 with ECDHE and an AEAD only; nothing older, nothing without forward secrecy.
  auto tls12 = s_client(tls_port(), {"-tls1_2", "-CAfile", ca});
  EXPECT_NE(tls12.out.find("Cipher is ECDHE-"), std::string::npos) << tls12.out;
  EXPECT_NE(tls12.out.find("GCM"), std::string::npos) << tls12.out;
  EXPECT_NE(s_client(tls_port(), {"-tls1_1"}).status.code, 0);
  EXPECT_NE(s_client(tls_port(), {"-tls1_2", "-cipher", "AES128-SHA"}).status.code, 0);
  EXPECT_NE(s_client(tls_port(), {"-tls1_2", "-cipher", "AES256-GCM-SHA384"}).status.code, 0);
  // min_version 1.3 refuses 1.2.
  EXPECT_NE(s_client(tls_port(1), {"-tls1_2"}).status.code, 0);
  EXPECT_EQ(s_client(tls_port(1), {"-tls1_3", "-CAfile", ca}).status.code, 0);

  // ALPN: none offered is served; offered without parley/1 is refused with an alert.
  auto no_alpn = s_client(tls_port(), {"-CAfile", ca});
  EXPECT_EQ(no_alpn.status.code, 0) << no_alpn.err;
  auto h2 = s_client(tls_port(), {"-alpn", "h2,http/1.1"});
  EXPECT_NE(h2.status.code, 0);
  EXPECT_NE(h2.err.find("no application protocol"), std::string::npos) << h2.err;
  EXPECT_TRUE(server_.wait_for_log([](const nlohmann::json& j) {
    return j.value("event", "") == "handshake_failed" && j.value("code", "") == "tls" &&
           j.value("reason", "").find("no application protocol") != std::string::npos;
  }));

  auto gnutls = run_child({"/usr/bin/gnutls-cli", "--x509cafile=" + ca, "--alpn=parley/1", "-p",
                           std::to_string(tls_port()), "127.0.0.1"},
                          "", {}, milliseconds(20000));
  EXPECT_EQ(gnutls.status.code, 0) << gnutls.err;
  EXPECT_NE(gnutls.out.find("Application protocol: parley/1"), std::string::npos) << gnutls.out;
}

TEST_F(TlsTest, ClientRefusesWrongNameUntrustedCaAndExpiredCertificate) {
  const TestCa other("Someone Else's CA");
  start({tls_listener("misnamed", ca_.issue("parleyd", {"chat.example.org"}, "")),
         tls_listener("stranger", other.issue("parleyd", {"localhost"}, "127.0.0.1")),
         tls_listener("expired", ca_.issue("parleyd", {"localhost"}, "127.0.0.1",
                                           std::chrono::hours(-48), std::chrono::hours(-24)))});
  const std::string ca = ca_file();
  const struct {
    std::size_t listener;
    std::string says;
  } cases[] = {{0, "is not for '127.0.0.1'"}, {1, "is not trusted"}, {2, "has expired"}};
  for (const auto& c : cases) {
    auto run = parley({"--batch", "--trust-new", "--ca", ca}, tls_target(c.listener));
    EXPECT_EQ(run.status.code, kHandshake) << c.says << ": " << run.err;
    EXPECT_NE(run.err.find(c.says), std::string::npos) << run.err;
  }
  // Nothing reached the Parley handshake, so nothing was learnt about the server's key.
  EXPECT_TRUE(server_.events("handshake_ok").empty());
  // The system store does not know the test CA either.
  auto run =
      parley({"--batch", "--trust-new"}, "parleys://localhost:" + std::to_string(tls_port(2)));
  EXPECT_EQ(run.status.code, kHandshake) << run.err;

  // --tls-insecure skips the check, says so, and still pins the Parley key.
  auto insecure = parley({"--batch", "--trust-new", "--tls-insecure"}, tls_target(1));
  EXPECT_EQ(insecure.status.code, 0) << insecure.err;
  EXPECT_NE(insecure.err.find("warning: --tls-insecure"), std::string::npos) << insecure.err;
}

TEST_F(TlsTest, WrongSideOfThePortFailsFastAndOthersStillGetIn) {
  start({tls_listener("server", ca_.issue("parleyd", {"localhost"}, "127.0.0.1"))});
  const std::string ca = ca_file();
  const std::string plain_target = "127.0.0.1:" + std::to_string(server_.port());
  for (const auto& [target, tls] : {std::pair{"127.0.0.1:" + std::to_string(tls_port()), false},
                                    std::pair{"parleys://" + plain_target, true}}) {
    const auto started = Clock::now();
    std::vector<std::string> args = {"--batch", "--trust-new"};
    if (tls) args.insert(args.end(), {"--ca", ca});
    auto run = parley(args, target);
    EXPECT_EQ(run.status.code, kHandshake) << target << ": " << run.err;
    EXPECT_LT(Clock::now() - started, milliseconds(5000 * kSlowdown)) << target;
  }
  EXPECT_TRUE(server_.wait_for_log([](const nlohmann::json& j) {
    return j.value("event", "") == "handshake_failed" && j.value("code", "") == "tls";
  }));
  auto tls_run = parley({"--batch", "--trust-new", "--ca", ca}, tls_target());
  EXPECT_EQ(tls_run.status.code, 0) << tls_run.err;
  auto plain_run = parley({"--batch", "--trust-new"}, plain_target);
  EXPECT_EQ(plain_run.status.code, 0) << plain_run.err;
}

TEST_F(TlsTest, ReloadServesANewCertificateAndKeepsTheOldOneWhenTheNewFilesAreBad) {
  const std::string ca = ca_file();
  start({tls_listener("server", ca_.issue("first-cert", {"localhost"}, "127.0.0.1"))});
  EXPECT_NE(s_client(tls_port(), {"-CAfile", ca}).out.find("CN = first-cert"), std::string::npos);
  // A session over the first certificate, which the reloads below must not touch.
  ChildProcess listener({kParley, "--known-hosts", home_.file("known_hosts"), "--trust-new", "--ca",
                         ca, "--listen", tls_target()},
                        {{"HOME", home_.path()}, {"NO_COLOR", "1"}});
  ASSERT_TRUE(server_.wait_for_event("handshake_ok"));

  const IssuedCert second = ca_.issue("second-cert", {"localhost"}, "127.0.0.1");
  files_.write("server.crt", second.cert_pem);
  files_.write("server.key", second.key_pem);
  auto mark = server_.log_mark();
  server_.signal(SIGHUP);
  auto reloaded = server_.wait_for_event("reload", kDefaultTimeout, mark);
  ASSERT_TRUE(reloaded);
  EXPECT_TRUE(reloaded->value("ok", false)) << *reloaded;
  auto after = s_client(tls_port(), {"-CAfile", ca});
  EXPECT_NE(after.out.find("CN = second-cert"), std::string::npos) << after.out;

  // A key that does not match its certificate: the reload fails, the pair in use stays.
  files_.write("server.key", ca_.issue("third", {"localhost"}, "").key_pem);
  mark = server_.log_mark();
  server_.signal(SIGHUP);
  reloaded = server_.wait_for_event("reload", kDefaultTimeout, mark);
  ASSERT_TRUE(reloaded);
  EXPECT_FALSE(reloaded->value("ok", true)) << *reloaded;
  EXPECT_NE(reloaded->dump().find("does not belong to the certificate"), std::string::npos)
      << *reloaded;
  after = s_client(tls_port(), {"-CAfile", ca});
  EXPECT_NE(after.out.find("CN = second-cert"), std::string::npos) << after.out;
  auto run = parley({"--batch", "--trust-new", "--ca", ca}, tls_target(), "after the reloads\n");
  EXPECT_EQ(run.status.code, 0) << run.err;
  // The first session is still there, and got the line.
  EXPECT_TRUE(listener.wait_for_line(
      [](const std::string& line) { return line.find("after the reloads") != std::string::npos; },
      kDefaultTimeout))
      << listener.stderr_text();
  listener.signal(SIGTERM);
  listener.wait_exit();
}

// Admission runs before any cryptography: a refused connection on a TLS port is closed at once,
// without a byte (no Error frame can be said before TLS).
TEST_F(TlsTest, ARefusalBeforeTlsJustCloses) {
  auto cfg = server_.default_config();
  cfg["limits"]["handshakes_per_source_per_s"] = 1;
  cfg["limits"]["handshake_burst_per_source"] = 1;
  start({tls_listener("server", ca_.issue("parleyd", {"localhost"}, "127.0.0.1"))}, cfg);
  std::vector<int> fds;
  for (int i = 0; i < 2; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in local{}, remote{};
    local.sin_family = remote.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.7", &local.sin_addr);
    remote.sin_port = htons(tls_port());
    remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), 0);
    fds.push_back(fd);
  }
  // The second is over the source's burst: closed at once, no bytes.
  pollfd p{fds[1], POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, static_cast<int>(2000 * kSlowdown)), 1);
  char byte;
  EXPECT_EQ(::recv(fds[1], &byte, 1, 0), 0);
  EXPECT_TRUE(server_.wait_for_event("admission_refused"));
  for (int fd : fds)
    ::close(fd);
}

// Slowloris on the TLS port: the bytes of a TLS ClientHello, one a second, from four addresses
// each under the per-source cap. The ClientHello deadline (which covers TLS) closes them, and a
// genuine TLS client gets in at once meanwhile.
TEST_F(TlsTest, ATrickledTlsHelloIsClosedByTheHelloDeadline) {
  auto cfg = server_.default_config();
  cfg["limits"]["hello_timeout_ms"] = 1500;
  start({tls_listener("server", ca_.issue("parleyd", {"localhost"}, "127.0.0.1"))}, cfg);
  Trickler trickle(tls_port(), {.sources = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"},
                                .open_per_s = 4,
                                .hold = 12,
                                .prefix = Trickler::tls_hello_prefix()});
  const std::string ca = ca_file();
  for (int i = 0; i < 3; ++i) {
    const auto started = Clock::now();
    auto run = parley({"--batch", "--trust-new", "--ca", ca}, tls_target());
    EXPECT_EQ(run.status.code, 0) << run.err;
    // A fresh RSA key and two handshakes: well under the trickle's deadline, let alone its pace.
    EXPECT_LT(Clock::now() - started, milliseconds(5000 * kSlowdown));
  }
  EXPECT_TRUE(server_.wait_for_log([](const nlohmann::json& j) {
    return j.value("event", "") == "handshake_failed" && j.value("code", "") == "timeout" &&
           j.value("reason", "") == "no TLS handshake in time";
  }));
  // The trickler notices a close on its next round (every 20 ms).
  const auto until = Clock::now() + milliseconds(5000 * kSlowdown);
  while (trickle.closed_by_server() == 0 && Clock::now() < until)
    std::this_thread::sleep_for(20ms);
  EXPECT_GT(trickle.closed_by_server(), 0u);
}

}  // namespace
}  // namespace parley::it
