#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <variant>
#include <vector>

#include "parley/authorized_keys.hpp"
#include "parley/config.hpp"

namespace parley::config {
namespace {

// Fixed, so default identity paths do not depend on the machine running the tests.
const Environment kEnv{std::nullopt, std::nullopt, std::string("/home/test")};

Config parse_ok(const std::string& text) {
  auto result = parse_config(text, kEnv);
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    std::string all;
    for (const auto& e : *errors)
      all += e.to_string() + "\n";
    ADD_FAILURE() << "unexpected errors for " << text << ":\n" << all;
    return Config{};
  }
  return std::get<Config>(result);
}

std::vector<ConfigError> parse_errors(const std::string& text) {
  auto result = parse_config(text, kEnv);
  if (std::holds_alternative<Config>(result)) {
    ADD_FAILURE() << "expected errors for " << text;
    return {};
  }
  return std::get<std::vector<ConfigError>>(result);
}

// The single error a document produces, so tests also catch spurious extra ones.
ConfigError one_error(const std::string& text) {
  auto errors = parse_errors(text);
  EXPECT_EQ(errors.size(), 1u) << text;
  if (errors.empty()) return {};
  return errors.front();
}

std::string limits_doc(const std::string& key, const std::string& value) {
  return R"({"limits": {")" + key + R"(": )" + value + "}}";
}

TEST(Config, EmptyObjectGivesDefaults) {
  EXPECT_EQ(parse_ok("{}"), default_config(kEnv));
}

TEST(Config, DefaultValues) {
  const Config c = default_config(kEnv);
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0], (ListenAddress{"127.0.0.1", 7777}));
  EXPECT_EQ(c.identity_key, "/home/test/.local/state/parleyd/identity.pem");
  EXPECT_EQ(c.suites, (std::vector<SuiteId>{SuiteId::aes_256_gcm, SuiteId::chacha20_poly1305,
                                            SuiteId::idea_ctr_hmac_sha256}));
  EXPECT_EQ(c.limits.max_clients, 10000u);
  EXPECT_EQ(c.limits.max_frame, 65536u);
  EXPECT_EQ(c.limits.max_message_bytes, 4096u);
  EXPECT_EQ(c.limits.handshake_timeout_ms, 10000u);
  EXPECT_EQ(c.limits.idle_interval_s, 60u);
  EXPECT_EQ(c.limits.idle_timeout_s, 30u);
  EXPECT_EQ(c.limits.rate, 10.0);
  EXPECT_EQ(c.limits.burst, 20u);
  EXPECT_EQ(c.limits.flood_strikes, 20u);
  EXPECT_EQ(c.limits.outbox_bytes, 1048576u);
  EXPECT_EQ(c.limits.send_buffer_bytes, 65536u);
  EXPECT_EQ(c.limits.write_deadline_ms, 10000u);
  EXPECT_EQ(c.limits.handshakes_per_source_per_s, 20u);
  EXPECT_EQ(c.limits.handshake_burst_per_source, 40u);
  EXPECT_EQ(c.limits.max_pending_handshakes, 256u);
  EXPECT_EQ(c.limits.signatures_per_turn, 4u);
  EXPECT_EQ(c.limits.min_client_rsa_bits, 2048u);
  EXPECT_EQ(c.auth.mode, AuthMode::open);
  EXPECT_FALSE(c.auth.authorized_keys);
  EXPECT_EQ(c.log.format, LogFormat::json);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_FALSE(c.log.file);
  EXPECT_EQ(c.log.stats_interval_s, 60u);
  EXPECT_EQ(c.history, (History{100, 86400, 67108864}));
}

struct IntBounds {
  const char* key;
  std::uint64_t min;
  std::uint64_t max;
  std::uint64_t Limits::*field;
};

class LimitBounds : public ::testing::TestWithParam<IntBounds> {};

TEST_P(LimitBounds, AcceptedAtBoundsRefusedOnePast) {
  const IntBounds b = GetParam();
  // Cross-field rules: max_message_bytes is capped by max_frame (give it the largest frame), and
  // outbox_bytes must hold two whole frames (give the smallest outbox the smallest frame).
  const std::string key = b.key;
  const std::string extra =
      key == "max_message_bytes" || key == "max_frame"
          ? R"(, "outbox_bytes": 33554432)" +
                std::string(key == "max_frame" ? "" : R"(, "max_frame": 16777216)")
      : key == "outbox_bytes" ? R"(, "max_frame": 16384)"
                              : "";
  for (std::uint64_t ok : {b.min, b.max}) {
    const Config c = parse_ok(R"({"limits": {")" + std::string(b.key) +
                              "\": " + std::to_string(ok) + extra + "}}");
    EXPECT_EQ(c.limits.*b.field, ok) << b.key;
  }
  for (std::uint64_t bad : {b.min - 1, b.max + 1}) {
    const ConfigError e = one_error(R"({"limits": {")" + std::string(b.key) +
                                    "\": " + std::to_string(bad) + extra + "}}");
    EXPECT_EQ(e.path, "limits." + std::string(b.key));
    EXPECT_EQ(e.message, "expected an integer in [" + std::to_string(b.min) + ", " +
                             std::to_string(b.max) + "], got " + std::to_string(bad));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Config, LimitBounds,
    ::testing::Values(
        IntBounds{"max_clients", 1, 1000000, &Limits::max_clients},
        IntBounds{"max_frame", 16384, 16777216, &Limits::max_frame},
        IntBounds{"max_message_bytes", 1, 1048576, &Limits::max_message_bytes},
        IntBounds{"handshake_timeout_ms", 100, 300000, &Limits::handshake_timeout_ms},
        IntBounds{"hello_timeout_ms", 100, 300000, &Limits::hello_timeout_ms},
        IntBounds{"idle_interval_s", 1, 86400, &Limits::idle_interval_s},
        IntBounds{"idle_timeout_s", 1, 3600, &Limits::idle_timeout_s},
        IntBounds{"burst", 1, 100000, &Limits::burst},
        IntBounds{"flood_strikes", 1, 100000, &Limits::flood_strikes},
        IntBounds{"outbox_bytes", 65536, 1073741824, &Limits::outbox_bytes},
        IntBounds{"send_buffer_bytes", 4096, 16777216, &Limits::send_buffer_bytes},
        IntBounds{"write_deadline_ms", 100, 300000, &Limits::write_deadline_ms},
        IntBounds{"handshakes_per_source_per_s", 1, 100000, &Limits::handshakes_per_source_per_s},
        IntBounds{"handshake_burst_per_source", 1, 100000, &Limits::handshake_burst_per_source},
        IntBounds{"max_pending_handshakes", 1, 100000, &Limits::max_pending_handshakes},
        IntBounds{"max_pending_per_source", 1, 100000, &Limits::max_pending_per_source},
        IntBounds{"max_sessions_per_source", 1, 1000000, &Limits::max_sessions_per_source},
        IntBounds{"max_rooms", 1, 1000000, &Limits::max_rooms},
        IntBounds{"max_rooms_per_session", 1, 100000, &Limits::max_rooms_per_session},
        IntBounds{"signatures_per_turn", 1, 64, &Limits::signatures_per_turn},
        IntBounds{"min_client_rsa_bits", 2048, 8192, &Limits::min_client_rsa_bits}),
    [](const ::testing::TestParamInfo<IntBounds>& info) { return std::string(info.param.key); });

TEST(Config, RateBounds) {
  EXPECT_EQ(parse_ok(limits_doc("rate", "0.1")).limits.rate, 0.1);
  EXPECT_EQ(parse_ok(limits_doc("rate", "100000")).limits.rate, 100000.0);
  EXPECT_EQ(parse_ok(limits_doc("rate", "2.5")).limits.rate, 2.5);
  EXPECT_EQ(one_error(limits_doc("rate", "0.09")).to_string(),
            "limits.rate: expected a number in [0.1, 100000], got 0.09");
  EXPECT_EQ(one_error(limits_doc("rate", "100000.5")).path, "limits.rate");
  EXPECT_EQ(one_error(limits_doc("rate", "0")).path, "limits.rate");
  EXPECT_EQ(one_error(limits_doc("rate", "\"10\"")).path, "limits.rate");
  EXPECT_EQ(one_error(limits_doc("rate", "true")).path, "limits.rate");
}

TEST(Config, StatsIntervalBounds) {
  EXPECT_EQ(parse_ok(R"({"log": {"stats_interval_s": 1}})").log.stats_interval_s, 1u);
  EXPECT_EQ(parse_ok(R"({"log": {"stats_interval_s": 86400}})").log.stats_interval_s, 86400u);
  EXPECT_EQ(one_error(R"({"log": {"stats_interval_s": 0}})").to_string(),
            "log.stats_interval_s: expected an integer in [1, 86400], got 0");
  EXPECT_EQ(one_error(R"({"log": {"stats_interval_s": 86401}})").path, "log.stats_interval_s");
}

TEST(Config, PortBounds) {
  EXPECT_EQ(parse_ok(R"({"listen": [{"address": "127.0.0.1", "port": 1}]})").listen[0].port, 1);
  EXPECT_EQ(parse_ok(R"({"listen": [{"address": "127.0.0.1", "port": 65535}]})").listen[0].port,
            65535);
  // Port 0: the kernel picks a free port (tests read it from the `listening` line).
  EXPECT_EQ(parse_ok(R"({"listen": [{"address": "127.0.0.1", "port": 0}]})").listen[0].port, 0);
  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 65536}]})").to_string(),
            "listen[0].port: expected an integer in [0, 65535], got 65536");
  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 65536}]})").path,
            "listen[0].port");
}

std::string listen_entries(int n) {
  std::string out = R"({"listen": [)";
  for (int i = 0; i < n; ++i) {
    if (i != 0) out += ", ";
    out += R"({"address": "::1", "port": )" + std::to_string(1000 + i) + "}";
  }
  return out + "]}";
}

TEST(Config, ListenEntryCount) {
  EXPECT_EQ(parse_ok(listen_entries(1)).listen.size(), 1u);
  EXPECT_EQ(parse_ok(listen_entries(16)).listen.size(), 16u);
  EXPECT_EQ(one_error(listen_entries(0)).to_string(), "listen: expected 1 to 16 entries, got 0");
  EXPECT_EQ(one_error(listen_entries(17)).to_string(), "listen: expected 1 to 16 entries, got 17");
}

TEST(Config, ListenAddresses) {
  const Config c = parse_ok(
      R"({"listen": [{"address": "::1", "port": 7777}, {"address": "0.0.0.0", "port": 7777},
                     {"address": "2001:db8::7", "port": 443}]})");
  EXPECT_EQ(c.listen,
            (std::vector<ListenAddress>{{"::1", 7777}, {"0.0.0.0", 7777}, {"2001:db8::7", 443}}));
  for (const char* bad : {"localhost", "1.2.3.4.5", "256.1.1.1", "fe80::1%eth0", "", ":::1",
                          "127.0.0.1\\u0000junk", " 127.0.0.1"}) {
    const ConfigError e =
        one_error(std::string(R"({"listen": [{"address": ")") + bad + R"(", "port": 1}]})");
    EXPECT_EQ(e.path, "listen[0].address") << bad;
    EXPECT_TRUE(e.message.starts_with("expected an IPv4 or IPv6 address, got \"")) << e.message;
  }
  EXPECT_EQ(one_error(R"({"listen": [{"address": 127, "port": 1}]})").to_string(),
            "listen[0].address: expected a string, got 127");
}

TEST(Config, ListenEntriesNeedAddressAndPortOnce) {
  EXPECT_EQ(one_error(R"({"listen": [{"port": 1}]})").path, "listen[0].address");
  EXPECT_EQ(one_error(R"({"listen": [{"address": "::1"}]})").path, "listen[0].port");
  // The same socket spelled two ways.
  EXPECT_EQ(one_error(R"({"listen": [{"address": "::1", "port": 1},
                                    {"address": "0:0::1", "port": 1}]})")
                .to_string(),
            "listen[1]: same address and port as listen[0]");
  EXPECT_EQ(one_error(R"({"listen": ["127.0.0.1:7777"]})").to_string(),
            "listen[0]: expected an object, got \"127.0.0.1:7777\"");
  EXPECT_EQ(one_error(R"({"listen": {"address": "::1", "port": 1}})").to_string(),
            "listen: expected an array, got an object");
}

TEST(Config, UnknownKeysAnywhere) {
  EXPECT_EQ(one_error(R"({"listne": []})").path, "listne");
  EXPECT_EQ(one_error(R"({"limits": {"max_client": 5}})").path, "limits.max_client");
  EXPECT_EQ(one_error(R"({"auth": {"mode": "open", "keys": "x"}})").path, "auth.keys");
  EXPECT_EQ(one_error(R"({"log": {"colour": true}})").path, "log.colour");
  EXPECT_EQ(one_error(R"({"listen": [{"address": "::1", "port": 1, "tls": false}]})").path,
            "listen[0].tls");
  const ConfigError e = one_error(R"({"log": {"colour": true}})");
  EXPECT_EQ(e.message,
            R"(unknown key, expected one of "format", "level", "file", "stats_interval_s")");
}

TEST(Config, WrongTypes) {
  for (const char* bad : {"1.5", "-1", "true", "\"10\"", "null", "[]", "{}", "4096.0", "1e4"}) {
    const ConfigError e = one_error(limits_doc("max_clients", bad));
    EXPECT_EQ(e.path, "limits.max_clients");
    EXPECT_TRUE(e.message.starts_with("expected an integer")) << e.message;
  }
  EXPECT_EQ(one_error(limits_doc("max_clients", "-1")).message,
            "expected an integer in [1, 1000000], got -1");
  EXPECT_EQ(one_error(R"({"identity_key": 5})").to_string(),
            "identity_key: expected a string, got 5");
  EXPECT_EQ(one_error(R"({"identity_key": ""})").path, "identity_key");
  EXPECT_EQ(one_error(R"({"limits": []})").to_string(), "limits: expected an object, got an array");
  EXPECT_EQ(one_error(R"({"auth": "open"})").to_string(),
            R"(auth: expected an object, got "open")");
  EXPECT_EQ(one_error(R"({"log": null})").to_string(), "log: expected an object, got null");
  EXPECT_EQ(one_error(R"({"suites": "AES-256-GCM"})").to_string(),
            R"(suites: expected an array, got "AES-256-GCM")");
  EXPECT_EQ(one_error(R"({"log": {"level": 3}})").path, "log.level");
  EXPECT_TRUE(one_error(R"({"log": {"level": 3}})").message.starts_with("expected a string"));
  EXPECT_EQ(one_error(R"({"log": {"level": "verbose"}})").to_string(),
            R"(log.level: expected one of "trace", "debug", "info", "warn", "error", )"
            R"("critical", "off", got "verbose")");
  EXPECT_EQ(one_error(R"({"log": {"format": "xml"}})").path, "log.format");
  EXPECT_EQ(one_error(R"({"log": {"file": 7}})").to_string(),
            "log.file: expected a string or null, got 7");
  EXPECT_EQ(one_error(R"({"auth": {"mode": "closed"}})").path, "auth.mode");
  EXPECT_EQ(one_error("[]").to_string(), "expected an object, got an array");
}

TEST(Config, MetricsIsOffByDefault) {
  EXPECT_FALSE(default_config(kEnv).metrics);
  EXPECT_FALSE(parse_ok(R"({"metrics": null})").metrics);
}

TEST(Config, MetricsListen) {
  auto listen = [](const std::string& text) {
    return parse_ok(R"({"metrics": {"listen": ")" + text + "\"}}").metrics;
  };
  EXPECT_EQ(listen("127.0.0.1:9477"), (Metrics{"127.0.0.1", 9477}));
  EXPECT_EQ(listen("[::1]:9477"), (Metrics{"::1", 9477}));
  // 0: the kernel chooses (tests read it from the `metrics_listening` line).
  EXPECT_EQ(listen("[::1]:0"), (Metrics{"::1", 0}));
  EXPECT_EQ(listen("127.0.0.1:65535"), (Metrics{"127.0.0.1", 65535}));
  // Allowed, and documented as exposing operational data to whoever can reach it.
  EXPECT_EQ(listen("0.0.0.0:9477"), (Metrics{"0.0.0.0", 9477}));
  EXPECT_EQ(listen("[2001:db8::7]:9477"), (Metrics{"2001:db8::7", 9477}));
  EXPECT_EQ(listen_text(Metrics{"2001:db8::7", 9477}), "[2001:db8::7]:9477");
  EXPECT_EQ(listen_text(Metrics{"127.0.0.1", 0}), "127.0.0.1:0");

  for (const char* bad : {"localhost:9477",
                          "127.0.0.1",
                          "127.0.0.1:",
                          ":9477",
                          "127.0.0.1:65536",
                          "127.0.0.1:+1",
                          "127.0.0.1:-1",
                          "127.0.0.1:0x10",
                          "127.0.0.1:09477",
                          "127.0.0.1:9477 ",
                          " 127.0.0.1:9477",
                          "127.0.0.1:123456",
                          "::1:9477",
                          "[::1]",
                          "[::1]:",
                          "[::1]9477",
                          "[127.0.0.1]:9477",
                          "[fe80::1%eth0]:9477",
                          "[]:9477",
                          "",
                          "127.0.0.1\\u0000:9477",
                          "http://127.0.0.1:9477"}) {
    const ConfigError e = one_error(R"({"metrics": {"listen": ")" + std::string(bad) + "\"}}");
    EXPECT_EQ(e.path, "metrics.listen") << bad;
    EXPECT_TRUE(e.message.starts_with("expected \"ADDRESS:PORT\"")) << e.message;
  }
  EXPECT_EQ(one_error(R"({"metrics": {"listen": "::1:9477"}})").to_string(),
            R"(metrics.listen: expected "ADDRESS:PORT" (an IPv4 address, or an IPv6 address in )"
            R"(brackets as in "[::1]:9477"; port 0..65535), got "::1:9477")");
  EXPECT_EQ(one_error(R"({"metrics": {"listen": 9477}})").path, "metrics.listen");
  EXPECT_TRUE(one_error(R"({"metrics": {"listen": 9477}})").message.ends_with("got 9477"));
  EXPECT_EQ(one_error(R"({"metrics": {}})").to_string(),
            R"(metrics.listen: missing, expected "ADDRESS:PORT" (an IPv4 address, or an IPv6 )"
            R"(address in brackets as in "[::1]:9477"; port 0..65535))");
  EXPECT_EQ(one_error(R"({"metrics": {"listen": "127.0.0.1:1", "path": "/m"}})").to_string(),
            R"(metrics.path: unknown key, expected one of "listen")");
  EXPECT_EQ(one_error(R"({"metrics": "127.0.0.1:9477"})").to_string(),
            R"(metrics: expected an object or null, got "127.0.0.1:9477")");
  EXPECT_EQ(one_error(R"({"metrics": true})").to_string(),
            "metrics: expected an object or null, got true");
}

TEST(Config, MetricsCannotTakeAListenersSocket) {
  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 7777},
                                     {"address": "::1", "port": 7777}],
                          "metrics": {"listen": "[0::1]:7777"}})")
                .to_string(),
            "metrics.listen: same address and port as listen[1]");
  // Against the default listener, too.
  EXPECT_EQ(one_error(R"({"metrics": {"listen": "127.0.0.1:7777"}})").to_string(),
            "metrics.listen: same address and port as listen[0]");
  // Another port, or port 0 on either side, is a different socket.
  EXPECT_TRUE(parse_ok(R"({"metrics": {"listen": "127.0.0.1:7778"}})").metrics);
  EXPECT_TRUE(parse_ok(R"({"listen": [{"address": "127.0.0.1", "port": 0}],
                           "metrics": {"listen": "127.0.0.1:0"}})")
                  .metrics);
}

TEST(Config, ShownValuesAreCapped) {
  const std::string long_value(200, 'x');
  const ConfigError e = one_error(R"({"log": {"level": ")" + long_value + "\"}}");
  EXPECT_TRUE(e.message.ends_with("got a string of 200 bytes")) << e.message;
  const ConfigError k = one_error("{\"" + long_value + "\": 1}");
  EXPECT_EQ(k.path, std::string(64, 'x') + "...");
}

TEST(Config, MessageSizeMustFitInFrame) {
  EXPECT_EQ(parse_ok(R"({"limits": {"max_frame": 16384, "max_message_bytes": 16128}})")
                .limits.max_message_bytes,
            16128u);
  EXPECT_EQ(
      one_error(R"({"limits": {"max_frame": 16384, "max_message_bytes": 16129}})").to_string(),
      "limits.max_message_bytes: expected at most limits.max_frame - 256 = 16128, got 16129");
  // Against the default max_frame of 65536.
  EXPECT_EQ(one_error(limits_doc("max_message_bytes", "65281")).path, "limits.max_message_bytes");
  // A bad max_frame is reported once, not again through the cross-field rule.
  EXPECT_EQ(one_error(R"({"limits": {"max_frame": 10, "max_message_bytes": 16129}})").path,
            "limits.max_frame");
}

TEST(Config, TlsListener) {
  const Config c = parse_ok(R"({"listen": [
      {"address": "127.0.0.1", "port": 7777},
      {"address": "::1", "port": 7443, "tls": {"cert": "/etc/parley/tls/fullchain.pem",
                                              "key": "/etc/parley/tls/privkey.pem"}},
      {"address": "127.0.0.1", "port": 7444, "tls": {"cert": "c.pem", "key": "k.pem",
                                                    "min_version": "1.3"}},
      {"address": "127.0.0.1", "port": 7445, "tls": null}]})");
  ASSERT_EQ(c.listen.size(), 4u);
  EXPECT_FALSE(c.listen[0].tls);
  ASSERT_TRUE(c.listen[1].tls);
  EXPECT_EQ(*c.listen[1].tls, (Tls{"/etc/parley/tls/fullchain.pem", "/etc/parley/tls/privkey.pem",
                                   TlsVersion::v1_2}));
  EXPECT_EQ(c.listen[2].tls->min_version, TlsVersion::v1_3);
  EXPECT_FALSE(c.listen[3].tls);
  EXPECT_EQ(std::get<Config>(parse_config(to_json(c), Environment{})), c);

  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 1, "tls": {"key": "k"}}]})")
                .to_string(),
            "listen[0].tls.cert: missing, expected the path of a PEM file");
  EXPECT_EQ(
      one_error(
          R"({"listen": [{"address": "127.0.0.1", "port": 1, "tls": {"cert": "c", "key": ""}}]})")
          .path,
      "listen[0].tls.key");
  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 1,
                        "tls": {"cert": "c", "key": "k", "min_version": "1.1"}}]})")
                .to_string(),
            R"(listen[0].tls.min_version: expected one of "1.2", "1.3", got "1.1")");
  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 1,
                        "tls": {"cert": "c", "key": "k", "alpn": "x"}}]})")
                .path,
            "listen[0].tls.alpn");
  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 1, "tls": true}]})").path,
            "listen[0].tls");
  // Which listener speaks TLS, and from what files, needs a restart (the files are re-read on
  // SIGHUP by the server, not through the configuration).
  Config b = c;
  b.listen[1].tls->cert = "/elsewhere.pem";
  EXPECT_EQ(diff(c, b).need_restart, std::vector<std::string>{"listen"});
}

TEST(Config, OutboxHoldsTwoFrames) {
  EXPECT_EQ(
      parse_ok(R"({"limits": {"max_frame": 65536, "outbox_bytes": 131072}})").limits.outbox_bytes,
      131072u);
  EXPECT_EQ(one_error(R"({"limits": {"max_frame": 65536, "outbox_bytes": 131071}})").to_string(),
            "limits.outbox_bytes: expected at least 2 * limits.max_frame = 131072, got 131071");
  // Against the default outbox of 1 MiB.
  EXPECT_EQ(one_error(limits_doc("max_frame", "1048576")).path, "limits.outbox_bytes");
  // A bad outbox_bytes is reported once.
  EXPECT_EQ(one_error(R"({"limits": {"outbox_bytes": 10}})").path, "limits.outbox_bytes");
}

// Room history (docs/config.md): 0 messages turns it off; the age and the budget have floors.
TEST(Config, HistoryBounds) {
  const Config c =
      parse_ok(R"({"history": {"messages": 0, "max_age_s": 1, "max_bytes": 68719476736}})");
  EXPECT_EQ(c.history, (History{0, 1, 68719476736}));
  EXPECT_EQ(parse_ok(R"({"history": {"messages": 100000, "max_age_s": 31536000}})").history,
            (History{100000, 31536000, 67108864}));
  EXPECT_EQ(one_error(R"({"history": {"messages": 100001}})").to_string(),
            "history.messages: expected an integer in [0, 100000], got 100001");
  EXPECT_EQ(one_error(R"({"history": {"messages": -1}})").path, "history.messages");
  EXPECT_EQ(one_error(R"({"history": {"max_age_s": 0}})").to_string(),
            "history.max_age_s: expected an integer in [1, 31536000], got 0");
  EXPECT_EQ(one_error(R"({"history": {"max_bytes": 65535}})").to_string(),
            "history.max_bytes: expected an integer in [65536, 68719476736], got 65535");
  EXPECT_EQ(one_error(R"({"history": {"max_bytes": "64M"}})").path, "history.max_bytes");
  EXPECT_EQ(one_error(R"({"history": {"days": 1}})").path, "history.days");
  EXPECT_EQ(one_error(R"({"history": 100})").to_string(), "history: expected an object, got 100");
}

TEST(Config, KeysModeNeedsAuthorizedKeys) {
  EXPECT_EQ(one_error(R"({"auth": {"mode": "keys"}})").to_string(),
            R"(auth.authorized_keys: required when auth.mode is "keys")");
  EXPECT_EQ(one_error(R"({"auth": {"mode": "keys", "authorized_keys": null}})").path,
            "auth.authorized_keys");
  const Config c = parse_ok(R"({"auth": {"mode": "keys", "authorized_keys": "/etc/keys"}})");
  EXPECT_EQ(c.auth.mode, AuthMode::keys);
  EXPECT_EQ(c.auth.authorized_keys, "/etc/keys");
  EXPECT_EQ(parse_ok(R"({"auth": {"mode": "open", "authorized_keys": null}})").auth, Auth{});
}

TEST(Config, ReportsEveryError) {
  const auto errors = parse_errors(
      R"({"listen": [{"address": "nope", "port": -1}], "suites": [], "limits": {"rate": -1},
          "log": {"level": "loud"}, "bogus": 1})");
  std::vector<std::string> paths;
  for (const auto& e : errors)
    paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"bogus", "listen[0].address", "listen[0].port",
                                             "suites", "limits.rate", "log.level"}));
}

TEST(Config, JsonSyntaxError) {
  const ConfigError e = one_error(R"({"limits": {"rate": 1,}})");
  EXPECT_EQ(e.path, "");
  EXPECT_TRUE(e.message.starts_with("parse error at line 1, column ")) << e.message;
  EXPECT_EQ(one_error("").path, "");
  // An unterminated string is not echoed back whole.
  EXPECT_LT(one_error("{\"" + std::string(1000, 'a')).message.size(), 300u);
}

TEST(Config, Suites) {
  EXPECT_EQ(parse_ok(R"({"suites": ["IDEA-CTR-HMAC-SHA256", "AES-256-GCM"]})").suites,
            (std::vector<SuiteId>{SuiteId::idea_ctr_hmac_sha256, SuiteId::aes_256_gcm}));
  EXPECT_EQ(one_error(R"({"suites": []})").to_string(),
            "suites: expected 1 to 3 suite names, got 0");
  EXPECT_EQ(
      one_error(R"({"suites": ["AES-256-GCM", "CHACHA20-POLY1305", "AES-256-GCM"]})").to_string(),
      "suites[2]: duplicate of suites[0]");
  EXPECT_EQ(one_error(R"({"suites": ["aes-256-gcm"]})").to_string(),
            R"(suites[0]: expected one of "AES-256-GCM", "CHACHA20-POLY1305", )"
            R"("IDEA-CTR-HMAC-SHA256", got "aes-256-gcm")");
  EXPECT_EQ(one_error(R"({"suites": [1]})").to_string(), "suites[0]: expected a string, got 1");
}

TEST(Config, DefaultIdentityKeyPath) {
  EXPECT_EQ(default_identity_key_path({"/var/lib/parleyd", "/x/state", "/home/a"}),
            "/var/lib/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({"/var/lib/parleyd/", std::nullopt, std::nullopt}),
            "/var/lib/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({"/var/lib/parleyd:/var/lib/other", {}, {}}),
            "/var/lib/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({std::nullopt, "/x/state", "/home/a"}),
            "/x/state/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({"", "/x/state", "/home/a"}),
            "/x/state/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({std::nullopt, std::nullopt, "/home/a"}),
            "/home/a/.local/state/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({std::nullopt, "relative/state", "/home/a"}),
            "/home/a/.local/state/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({std::nullopt, "", "/home/a"}),
            "/home/a/.local/state/parleyd/identity.pem");
  EXPECT_EQ(default_identity_key_path({}), "./parleyd-identity.pem");
  EXPECT_EQ(default_identity_key_path({"", "", ""}), "./parleyd-identity.pem");
  EXPECT_EQ(default_config({}).identity_key, "./parleyd-identity.pem");
}

Config non_default_config() {
  Config c = default_config(kEnv);
  c.listen = {{"::", 443}, {"10.0.0.1", 7000}};
  c.identity_key = "/etc/parleyd/key.pem";
  c.suites = {SuiteId::chacha20_poly1305};
  c.limits.rate = 0.25;
  c.limits.max_frame = 1 << 20;
  c.limits.max_message_bytes = 100000;
  c.limits.outbox_bytes = 1073741824;
  c.history = {0, 60, 65536};
  c.auth = {AuthMode::keys, "/etc/parleyd/authorized_keys"};
  c.log = {LogFormat::text, "debug", "/var/log/parleyd.log", 5};
  c.metrics = Metrics{"::1", 9477};
  c.listen[1].reuse_port = true;
  Cluster cluster;
  cluster.servers = {"nats://10.0.0.1:4222", "tls://10.0.0.2"};
  cluster.name = "chat";
  cluster.node = "n1";
  cluster.user = "parley";
  cluster.password = "pw";
  cluster.when_unreachable = WhenUnreachable::single;
  c.cluster = cluster;
  return c;
}

TEST(Config, ToJsonRoundTrips) {
  for (const Config& c : {default_config(kEnv), default_config({}), non_default_config()}) {
    const std::string text = to_json(c);
    EXPECT_EQ(parse_ok(text), c) << text;
    // Every key is present, so the environment cannot change the result.
    EXPECT_EQ(std::get<Config>(parse_config(text, {})), c);
  }
  const std::string text = to_json(default_config(kEnv));
  EXPECT_NE(text.find("\n  \"limits\": {\n    \"max_clients\": 10000,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"authorized_keys\": null"), std::string::npos);
  EXPECT_TRUE(
      text.ends_with("\n  \"metrics\": null,\n  \"control\": null,\n  \"cluster\": null\n}\n"))
      << text;
  // The endpoint goes out in the form the file uses, brackets and all.
  EXPECT_NE(to_json(non_default_config()).find(R"("metrics": {
    "listen": "[::1]:9477"
  })"),
            std::string::npos)
      << to_json(non_default_config());
}

TEST(Config, Diff) {
  const Config a = default_config(kEnv);
  EXPECT_EQ(diff(a, a), ConfigDiff{});

  Config live = a;
  live.limits.rate = 3;
  live.log.level = "debug";
  live.suites = {SuiteId::aes_256_gcm};
  EXPECT_EQ(diff(a, live), (ConfigDiff{{"suites", "limits.rate", "log.level"}, {}}));

  Config restart = a;
  restart.listen.push_back({"::1", 7777});
  restart.identity_key = "/elsewhere.pem";
  restart.auth.authorized_keys = "/k";
  EXPECT_EQ(diff(a, restart), (ConfigDiff{{"listen", "identity_key", "auth.authorized_keys"},
                                          {"listen", "identity_key"}}));

  Config sink = a;
  sink.log.format = LogFormat::text;
  sink.log.file = "/var/log/parleyd.log";
  EXPECT_EQ(diff(a, sink), (ConfigDiff{{"log.format", "log.file"}, {"log.format", "log.file"}}));

  const ConfigDiff all = diff(a, non_default_config());
  EXPECT_EQ(all.need_restart, (std::vector<std::string>{"listen", "identity_key", "log.format",
                                                        "log.file", "metrics", "cluster"}));
  EXPECT_EQ(all.changed.size(), 18u);

  Config history = a;
  history.history.messages = 10;
  history.history.max_bytes = 1 << 20;
  EXPECT_EQ(diff(a, history), (ConfigDiff{{"history.messages", "history.max_bytes"}, {}}))
      << "history is reloadable";

  // Turning the endpoint on, off, or moving it: the socket is bound once, at start.
  Config metrics = a;
  metrics.metrics = Metrics{"127.0.0.1", 9477};
  EXPECT_EQ(diff(a, metrics), (ConfigDiff{{"metrics"}, {"metrics"}}));
  EXPECT_EQ(diff(metrics, a), (ConfigDiff{{"metrics"}, {"metrics"}}));
  Config moved = metrics;
  moved.metrics->port = 9478;
  EXPECT_EQ(diff(metrics, moved), (ConfigDiff{{"metrics"}, {"metrics"}}));
}

TEST(Config, ExampleFileIsTheDefaults) {
  const auto result = load_config_file(PARLEY_CONFIG_DIR "/parleyd.example.json", kEnv);
  ASSERT_TRUE(std::holds_alternative<Config>(result))
      << std::get<std::vector<ConfigError>>(result).front().to_string();
  Config expected = default_config(kEnv);
  // The file shows the values the service unit gives them.
  expected.identity_key = "/var/lib/parleyd/identity.pem";
  expected.control = Control{"/run/parleyd/control.sock"};
  EXPECT_EQ(std::get<Config>(result), expected);
  // Byte for byte what to_json prints, so the file keeps showing every key, in order.
  std::ifstream in(PARLEY_CONFIG_DIR "/parleyd.example.json", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, to_json(expected));
}

TEST(Config, LoadMissingFile) {
  const auto result = load_config_file("/nonexistent/parleyd.json", kEnv);
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(result));
  const auto& errors = std::get<std::vector<ConfigError>>(result);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(),
            "cannot read /nonexistent/parleyd.json: No such file or directory");
  const auto dir = load_config_file("/", kEnv);
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(dir));
  EXPECT_EQ(std::get<std::vector<ConfigError>>(dir)[0].message, "cannot read /: Is a directory");
}

// Valid fingerprints: 43 base64 characters whose last one leaves the 2 spare bits zero.
std::string fp(char c) {
  return "SHA256:" + std::string(42, c) + "A";
}

AuthorizedKeys keys_ok(const std::string& text) {
  auto result = parse_authorized_keys(text);
  if (auto* errors = std::get_if<std::vector<std::string>>(&result)) {
    ADD_FAILURE() << "unexpected: " << errors->front();
    return {};
  }
  return std::get<AuthorizedKeys>(result);
}

std::vector<std::string> keys_errors(const std::string& text) {
  auto result = parse_authorized_keys(text);
  if (std::holds_alternative<AuthorizedKeys>(result)) {
    ADD_FAILURE() << "expected errors for " << text;
    return {};
  }
  return std::get<std::vector<std::string>>(result);
}

TEST(AuthorizedKeys, GoodLinesCommentsAndNicks) {
  const AuthorizedKeys k = keys_ok("# team keys\n\n" + fp('a') + "\n  " + fp('b') +
                                   "\tAlice\r\n   # indented comment\n" + fp('+') + "  bob  ");
  ASSERT_EQ(k.keys.size(), 3u);
  EXPECT_EQ(k.keys[0], (AuthorizedKey{fp('a'), std::nullopt}));
  EXPECT_EQ(k.keys[1], (AuthorizedKey{fp('b'), "Alice"}));
  EXPECT_EQ(k.keys[2], (AuthorizedKey{fp('+'), "bob"}));
  EXPECT_TRUE(k.contains(fp('a')));
  EXPECT_FALSE(k.contains(fp('c')));
  EXPECT_EQ(k.nick_of(fp('b')), "Alice");
  EXPECT_EQ(k.nick_of(fp('a')), std::nullopt);
  EXPECT_EQ(k.nick_of(fp('c')), std::nullopt);
  EXPECT_EQ(k.owner_of("alice"), fp('b'));
  EXPECT_EQ(k.owner_of("ALICE"), fp('b'));
  EXPECT_EQ(k.owner_of("carol"), std::nullopt);
  EXPECT_TRUE(keys_ok("").keys.empty());
}

TEST(AuthorizedKeys, BadLines) {
  EXPECT_EQ(keys_errors("# c\n\nSHA1:abc\n"),
            (std::vector<std::string>{"line 3: not a SHA256: fingerprint"}));
  for (const std::string& bad :
       {"SHA256:" + std::string(42, 'a'), "SHA256:" + std::string(44, 'a'),
        "sha256:" + std::string(42, 'a') + "A", "SHA256:" + std::string(42, 'a') + "=",
        "SHA256:" + std::string(42, '-') + "A", "SHA256:" + std::string(42, 'a') + "B"}) {
    EXPECT_EQ(keys_errors(bad), (std::vector<std::string>{"line 1: not a SHA256: fingerprint"}))
        << bad;
  }
  EXPECT_EQ(keys_errors(fp('a') + " bad!nick"),
            (std::vector<std::string>{
                "line 1: not a valid nick (1 to 32 characters from A-Z a-z 0-9 _ . -)"}));
  EXPECT_EQ(keys_errors(fp('a') + " alice extra"),
            (std::vector<std::string>{"line 1: unexpected text after the nick"}));
}

TEST(AuthorizedKeys, Duplicates) {
  EXPECT_EQ(keys_errors(fp('a') + "\n" + fp('b') + "\n" + fp('a') + " carol\n"),
            (std::vector<std::string>{"line 3: duplicate fingerprint, first on line 1"}));
  EXPECT_EQ(
      keys_errors(fp('a') + " Alice\n#\n" + fp('b') + " aLiCe\n"),
      (std::vector<std::string>{"line 3: nick \"aLiCe\" is already owned by the key on line 1"}));
  // Every bad line is reported.
  EXPECT_EQ(keys_errors("x\n" + fp('a') + "\ny\n" + fp('a')).size(), 3u);
}

// The file is read by config/, with the config file's size cap, and every error names it.
TEST(AuthorizedKeys, FileReadWithTheConfigFilesCapAndNamedInErrors) {
  const std::string dir = ::testing::TempDir();
  const std::string good = dir + "/parley_authorized_keys_good";
  std::ofstream(good) << fp('a') << " alice\n";
  auto loaded = load_authorized_keys_file(good);
  ASSERT_TRUE(std::holds_alternative<AuthorizedKeys>(loaded));
  EXPECT_EQ(std::get<AuthorizedKeys>(loaded).nick_of(fp('a')), "alice");

  const std::string bad = dir + "/parley_authorized_keys_bad";
  std::ofstream(bad) << "junk\n";
  loaded = load_authorized_keys_file(bad);
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(loaded));
  EXPECT_EQ(
      std::get<std::vector<std::string>>(loaded),
      (std::vector<std::string>{"authorized_keys " + bad + ": line 1: not a SHA256: fingerprint"}));

  const std::string huge = dir + "/parley_authorized_keys_huge";
  {
    std::ofstream out(huge);
    const std::string comment = "# " + std::string(1000, 'x') + "\n";
    for (int i = 0; i < 1100; ++i)
      out << comment;  // 1.1 MB of comments: valid lines, but over the cap
  }
  loaded = load_authorized_keys_file(huge);
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(loaded));
  EXPECT_EQ(std::get<std::vector<std::string>>(loaded),
            (std::vector<std::string>{"cannot read " + huge + ": larger than 1 MiB"}));

  loaded = load_authorized_keys_file(dir + "/parley_no_such_file");
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(loaded));
  EXPECT_NE(std::get<std::vector<std::string>>(loaded).at(0).find("parley_no_such_file"),
            std::string::npos);
  std::remove(good.c_str());
  std::remove(bad.c_str());
  std::remove(huge.c_str());
}

}  // namespace
}  // namespace parley::config

namespace parley::config {
namespace {

TEST(Config, ControlSocketIsOffOutsideSystemdAndInTheRuntimeDirectoryUnderIt) {
  EXPECT_FALSE(parse_ok("{}").control);
  Environment systemd = kEnv;
  systemd.runtime_directory = "/run/parleyd:/run/other";
  auto result = parse_config("{}", systemd);
  ASSERT_TRUE(std::holds_alternative<Config>(result));
  EXPECT_EQ(std::get<Config>(result).control, (Control{"/run/parleyd/control.sock"}));
  // An explicit null turns it off even there.
  result = parse_config(R"({"control": null})", systemd);
  ASSERT_TRUE(std::holds_alternative<Config>(result));
  EXPECT_FALSE(std::get<Config>(result).control);
}

TEST(Config, ControlSocketPath) {
  EXPECT_EQ(parse_ok(R"({"control": {"socket": "/tmp/x.sock"}})").control,
            (Control{"/tmp/x.sock"}));
  EXPECT_EQ(one_error(R"({"control": {}})").path, "control.socket");
  EXPECT_EQ(one_error(R"({"control": {"socket": ""}})").path, "control.socket");
  EXPECT_EQ(one_error(R"({"control": {"socket": 5}})").path, "control.socket");
  EXPECT_EQ(one_error(R"({"control": "/tmp/x.sock"})").path, "control");
  EXPECT_EQ(one_error(R"({"control": {"socket": "/x", "mode": 1}})").path, "control.mode");
  const std::string long_path = "/" + std::string(kMaxControlSocketPath, 'a');
  EXPECT_NE(one_error(R"({"control": {"socket": ")" + long_path + R"("}})").message.find("Unix"),
            std::string::npos);
  // Round trip, and a restart-only key.
  const Config c = parse_ok(R"({"control": {"socket": "/tmp/x.sock"}})");
  EXPECT_EQ(parse_ok(to_json(c)), c);
  const auto d = diff(parse_ok("{}"), c);
  EXPECT_EQ(d.need_restart, std::vector<std::string>{"control"});
}

}  // namespace
}  // namespace parley::config

namespace parley::config {
namespace {

Environment host_env(std::optional<std::string> host, std::optional<std::string> instance) {
  Environment env = kEnv;
  env.host_name = std::move(host);
  env.instance = std::move(instance);
  return env;
}

TEST(ConfigCluster, AbsentOrNullIsASingleNode) {
  EXPECT_FALSE(parse_ok("{}").cluster);
  EXPECT_FALSE(parse_ok(R"({"cluster": null})").cluster);
}

TEST(ConfigCluster, EveryKey) {
  const Config c = parse_ok(R"({"cluster": {
      "servers": ["nats://10.0.0.1:4222", "tls://nats.example.org:4443"],
      "name": "chat_1", "node": "node-A", "token": "s3cret",
      "when_unreachable": "single"}})");
  ASSERT_TRUE(c.cluster);
  EXPECT_EQ(c.cluster->servers,
            (std::vector<std::string>{"nats://10.0.0.1:4222", "tls://nats.example.org:4443"}));
  EXPECT_EQ(c.cluster->name, "chat_1");
  EXPECT_EQ(c.cluster->node, "node-A");
  EXPECT_EQ(c.cluster->token, "s3cret");
  EXPECT_FALSE(c.cluster->user);
  EXPECT_EQ(c.cluster->when_unreachable, WhenUnreachable::single);
  EXPECT_EQ(parse_ok(to_json(c)), c);

  const Config u = parse_ok(R"({"cluster": {"servers": ["nats://127.0.0.1"], "node": "a",
      "user": "parley", "password": "pw"}})");
  EXPECT_EQ(u.cluster->user, "parley");
  EXPECT_EQ(u.cluster->password, "pw");
  EXPECT_EQ(u.cluster->name, "parley");  // the default
  EXPECT_EQ(u.cluster->when_unreachable, WhenUnreachable::fail);
  EXPECT_EQ(parse_ok(to_json(u)), u);

  const Config f = parse_ok(R"({"cluster": {"servers": ["nats://127.0.0.1:4222"], "node": "a",
      "credentials": "/etc/parley/nats.creds", "token": null}})");
  EXPECT_EQ(f.cluster->credentials, "/etc/parley/nats.creds");
  EXPECT_EQ(parse_ok(to_json(f)), f);
}

TEST(ConfigCluster, TheNodeDefaultsToTheHostAndInstanceNames) {
  const std::string doc = R"({"cluster": {"servers": ["nats://127.0.0.1:4222"]}})";
  auto node = [&](const Environment& env) {
    auto result = parse_config(doc, env);
    if (!std::holds_alternative<Config>(result)) return std::string("(error)");
    return std::get<Config>(result).cluster->node;
  };
  EXPECT_EQ(node(host_env("chat1", std::nullopt)), "chat1");
  EXPECT_EQ(node(host_env("chat1.example.org", "2")), "chat1-example-org-2");
  EXPECT_EQ(node(host_env("chat1", "eu west@3")), "chat1-eu-west-3");
  // Kept within 32 characters, the instance whole.
  const std::string longest = node(host_env(std::string(40, 'h'), "7"));
  EXPECT_EQ(longest, std::string(30, 'h') + "-7");
  EXPECT_TRUE(is_cluster_name(node(host_env(std::string(40, 'h'), std::string(40, 'i')))));
  // Stable: the same environment, the same name (no pid in it).
  EXPECT_EQ(node(host_env("a", "1")), node(host_env("a", "1")));
  // An explicit node wins.
  auto result = parse_config(R"({"cluster": {"servers": ["nats://127.0.0.1"], "node": "b"}})",
                             host_env("a", "1"));
  EXPECT_EQ(std::get<Config>(result).cluster->node, "b");
  // Nothing to derive it from: say so.
  result = parse_config(doc, host_env(std::nullopt, "1"));
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(result));
  EXPECT_EQ(std::get<std::vector<ConfigError>>(result).at(0).to_string(),
            "cluster.node: missing, and there is no host name to derive it from");
}

TEST(ConfigCluster, BadBlocksAreRefusedWithTheirPath) {
  auto cluster = [](const std::string& members) {
    return one_error(R"({"cluster": {)" + members + "}}").to_string();
  };
  const std::string ok = R"("servers": ["nats://127.0.0.1:4222"], "node": "a")";
  EXPECT_EQ(one_error(R"({"cluster": []})").to_string(),
            "cluster: expected an object or null, got an array");
  EXPECT_EQ(cluster(R"("node": "a")"),
            "cluster.servers: missing, expected an array of 1 to 16 nats:// or tls:// URLs");
  EXPECT_EQ(cluster(R"("servers": [], "node": "a")"),
            "cluster.servers: expected an array of 1 to 16 nats:// or tls:// URLs, got 0 entries");
  EXPECT_EQ(cluster(R"("servers": "nats://127.0.0.1", "node": "a")"),
            "cluster.servers: expected an array of 1 to 16 nats:// or tls:// URLs, got "
            "\"nats://127.0.0.1\"");
  EXPECT_EQ(cluster(R"("servers": ["nats://a:1", "http://b:4222"], "node": "a")"),
            "cluster.servers[1]: expected a nats:// or tls:// URL such as "
            "\"nats://127.0.0.1:4222\", got \"http://b:4222\"");
  EXPECT_EQ(one_error(R"({"cluster": {"servers": ["nats://"], "node": "a"}})").path,
            "cluster.servers[0]");
  EXPECT_EQ(one_error(R"({"cluster": {"servers": ["nats://a,nats://b"], "node": "a"}})").path,
            "cluster.servers[0]");
  EXPECT_EQ(one_error(R"({"cluster": {"servers": ["nats://a b"], "node": "a"}})").path,
            "cluster.servers[0]");
  EXPECT_EQ(cluster(ok + R"(, "name": "a.b")"),
            "cluster.name: expected 1 to 32 characters of A-Z a-z 0-9 _ -, got \"a.b\"");
  EXPECT_EQ(
      one_error(R"({"cluster": {)" + ok + R"(, "name": ")" + std::string(33, 'n') + "\"}}").path,
      "cluster.name");
  EXPECT_EQ(one_error(R"({"cluster": {)" + ok + R"(, "name": ""}})").path, "cluster.name");
  EXPECT_EQ(cluster(R"("servers": ["nats://a"], "node": "a*")"),
            "cluster.node: expected 1 to 32 characters of A-Z a-z 0-9 _ -, got \"a*\"");
  EXPECT_EQ(
      cluster(ok + R"(, "port": 4222)"),
      "cluster.port: unknown key, expected one of \"servers\", \"name\", \"node\", \"token\", "
      "\"user\", \"password\", \"credentials\", \"when_unreachable\"");
  EXPECT_EQ(cluster(ok + R"(, "when_unreachable": "retry")"),
            "cluster.when_unreachable: expected one of \"fail\", \"single\", got \"retry\"");
  EXPECT_EQ(cluster(ok + R"(, "user": "u")"), "cluster.password: required with cluster.user");
  EXPECT_EQ(cluster(ok + R"(, "password": "p")"), "cluster.user: required with cluster.password");
  EXPECT_EQ(cluster(ok + R"(, "token": "t", "credentials": "/c.creds")"),
            "cluster: token, user and password, and credentials exclude each other: give one");
  EXPECT_EQ(cluster(ok + R"(, "token": 5)"), "cluster.token: expected a string or null, got 5");
  EXPECT_EQ(cluster(ok + R"(, "credentials": "")"),
            "cluster.credentials: expected a non-empty path without NUL bytes, got \"\"");
  // A bad secret is described, never shown.
  const std::string bad_token = cluster(ok + R"(, "token": "has space")");
  EXPECT_EQ(bad_token,
            "cluster.token: expected 1 to 1024 printable ASCII characters without spaces, got a "
            "string of 9 bytes");
  EXPECT_EQ(cluster(ok + R"(, "user": "u", "password": "pass word")"),
            "cluster.password: expected 1 to 1024 printable ASCII characters without spaces, got "
            "a string of 9 bytes");
}

TEST(ConfigCluster, ARestartOnlyKey) {
  const Config single = parse_ok("{}");
  const Config joined = parse_ok(R"({"cluster": {"servers": ["nats://127.0.0.1"], "node": "a"}})");
  EXPECT_EQ(diff(single, joined), (ConfigDiff{{"cluster"}, {"cluster"}}));
  Config renamed = joined;
  renamed.cluster->node = "b";
  EXPECT_EQ(diff(joined, renamed), (ConfigDiff{{"cluster"}, {"cluster"}}));
  EXPECT_EQ(diff(joined, joined), ConfigDiff{});
}

TEST(ConfigListen, ReusePort) {
  const Config c = parse_ok(R"({"listen": [{"address": "127.0.0.1", "port": 7777,
      "reuse_port": true}, {"address": "::1", "port": 7777}]})");
  EXPECT_TRUE(c.listen[0].reuse_port);
  EXPECT_FALSE(c.listen[1].reuse_port);
  EXPECT_EQ(parse_ok(to_json(c)), c);
  EXPECT_EQ(one_error(R"({"listen": [{"address": "127.0.0.1", "port": 1, "reuse_port": "yes"}]})")
                .to_string(),
            "listen[0].reuse_port: expected true or false, got \"yes\"");
  Config other = c;
  other.listen[0].reuse_port = false;
  EXPECT_EQ(diff(c, other).need_restart, std::vector<std::string>{"listen"});
}

}  // namespace
}  // namespace parley::config
