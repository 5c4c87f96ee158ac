// parleyd's configuration (docs/config.md) as an immutable value. Parsing is pure: the
// environment comes in as a struct and only load_config_file touches the file system, so a
// SIGHUP reload can parse, diff and then swap in the new value without partial states.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/suite.hpp"

namespace parley::config {

enum class TlsVersion { v1_2, v1_3 };

// A listener that speaks TLS (docs/config.md): the Parley handshake runs inside it.
struct Tls {
  std::string cert;  // PEM: the certificate, then its chain
  std::string key;   // PEM: its private key
  TlsVersion min_version = TlsVersion::v1_2;
  bool operator==(const Tls&) const = default;
};

struct ListenAddress {
  std::string address;  // an IPv4 or IPv6 literal, never a host name
  std::uint16_t port = 0;
  std::optional<Tls> tls = std::nullopt;  // absent: plain TCP
  bool reuse_port = false;  // SO_REUSEPORT: several parleyd on one port (docs/cluster.md)
  bool operator==(const ListenAddress&) const = default;
};

std::string_view name_of(TlsVersion version);  // "1.2", "1.3

// Defaults and ranges are in docs/config.md. No field uses 0 to mean "unlimited".
struct Limits {
  std::uint64_t max_clients = 10000;
  std::uint64_t max_frame = 65536;
  std::uint64_t max_message_bytes = 4096;  // at most max_frame - kFrameOverheadReserve
  std::uint64_t handshake_timeout_ms = 10000;
  std::uint64_t hello_timeout_ms = 5000;  // from accept to a whole ClientHello
  std::uint64_t idle_interval_s = 60;
  std::uint64_t idle_timeout_s = 30;
  double rate = 10.0;  // requests per second, refilled continuously
  std::uint64_t burst = 20;
  std::uint64_t flood_strikes = 20;  // rate_limited errors in a row before close code 10
  std::uint64_t outbox_bytes = 1048576;
  std::uint64_t send_buffer_bytes = 65536;  // SO_SNDBUF asked for (Linux doubles it)
  std::uint64_t write_deadline_ms = 10000;  // output queued, nothing accepted: slow consumer
  std::uint64_t handshakes_per_source_per_s = 20;
  std::uint64_t handshake_burst_per_source = 40;
  std::uint64_t max_pending_handshakes = 256;
  std::uint64_t max_pending_per_source = 16;
  std::uint64_t max_sessions_per_source = 64;  // established, per address (IPv6: per /64)
  std::uint64_t max_rooms = 10000;
  std::uint64_t max_rooms_per_session = 100;
  std::uint64_t signatures_per_turn = 4;
  std::uint64_t min_client_rsa_bits = 2048;
  bool operator==(const Limits&) const = default;
};

// Room a frame needs beyond the message text itself (envelope, ids, record tag).
inline constexpr std::uint64_t kFrameOverheadReserve = 256;

enum class AuthMode { open, keys };

struct Auth {
  AuthMode mode = AuthMode::open;
  std::optional<std::string> authorized_keys;  // required when mode is keys
  bool operator==(const Auth&) const = default;
};

// Room history (PROTOCOL.md 6.4, docs/config.md): per room at most `messages` (0: none kept),
// none older than max_age_s, and max_bytes for all rooms together (the oldest go first).
struct History {
  std::uint64_t messages = 100;
  std::uint64_t max_age_s = 86400;
  std::uint64_t max_bytes = 67108864;
  bool operator==(const History&) const = default;
};

enum class LogFormat { json, text };

// The log levels, least severe first (the order spdlog numbers them in): the config's and the
// event log's one list.
inline constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                               "error", "critical", "off"};

struct Log {
  LogFormat format = LogFormat::json;
  std::string level = "info";       // one of trace debug info warn error critical off
  std::optional<std::string> file;  // absent: stderr
  std::uint32_t stats_interval_s = 60;
  bool operator==(const Log&) const = default;
};

// The Prometheus endpoint (docs/metrics.md), written "ADDRESS:PORT" ("[::1]:9477" for IPv6).
struct Metrics {
  std::string address;     // an IPv4 or IPv6 literal, without brackets
  std::uint16_t port = 0;  // 0: the kernel chooses (the `metrics_listening` log line says which)
  bool operator==(const Metrics&) const = default;
};

// "127.0.0.1:9477", "[::1]:9477": the form the config file uses.
std::string listen_text(const Metrics& metrics);

// The admin socket parleyctl(8) talks to (docs/config.md `control`): a Unix stream socket.
struct Control {
  std::string socket;  // a path, at most kMaxControlSocketPath bytes
  bool operator==(const Control&) const = default;
};

// sockaddr_un's sun_path holds 108 bytes with the terminating NUL.
inline constexpr std::size_t kMaxControlSocketPath = 107;

enum class WhenUnreachable { fail, single };

std::string_view name_of(WhenUnreachable when);  // "fail", "single"

// Several parleyd sharing rooms, nicks and direct messages over NATS (docs/cluster.md). At most
// one way to authenticate to NATS: a token, a user and password, or a credentials file.
struct Cluster {
  std::vector<std::string> servers;  // 1..kMaxClusterServers nats:// or tls:// URLs
  std::string name = "parley";       // the subject prefix: a cluster name (is_cluster_name)
  std::string node;                  // this node, unique in the cluster: a cluster name too
  std::optional<std::string> token = std::nullopt;
  std::optional<std::string> user = std::nullopt;
  std::optional<std::string> password = std::nullopt;
  std::optional<std::string> credentials = std::nullopt;  // a NATS .creds file (JWT and seed)
  WhenUnreachable when_unreachable = WhenUnreachable::fail;
  bool operator==(const Cluster&) const = default;
};

inline constexpr std::size_t kMaxClusterServers = 16;
inline constexpr std::size_t kMaxClusterName = 32;

// [A-Za-z0-9_-]{1,32}: safe as a NATS subject token, stream name and KV bucket or key name.
bool is_cluster_name(std::string_view text);

struct Config {
  std::vector<ListenAddress> listen;
  std::string identity_key;
  std::vector<SuiteId> suites;  // server preference order, distinct
  Limits limits;
  History history;
  Auth auth;
  Log log;
  std::optional<Metrics> metrics;  // absent: no metrics endpoint (the default)
  // Absent: no admin socket. Default: $RUNTIME_DIRECTORY/control.sock under systemd, else none.
  std::optional<Control> control;
  std::optional<Cluster> cluster;  // absent: a single node, no NATS code runs (the default)
  bool operator==(const Config&) const = default;
};

// The caller fills this from getenv; an empty string counts as unset.
struct Environment {
  std::optional<std::string> state_directory;  // $STATE_DIRECTORY (systemd StateDirectory=)
  std::optional<std::string> xdg_state_home;
  std::optional<std::string> home;
  std::optional<std::string> runtime_directory =
      std::nullopt;  // $RUNTIME_DIRECTORY (systemd RuntimeDirectory=)
  std::optional<std::string> host_name = std::nullopt;  // gethostname(2)
  std::optional<std::string> instance = std::nullopt;   // $PARLEYD_INSTANCE (parleyd@%i)
};

// $STATE_DIRECTORY/identity.pem (its first entry, if systemd set several), else
// $XDG_STATE_HOME/parleyd/identity.pem (absolute paths only, as the XDG spec says), else
// $HOME/.local/state/parleyd/identity.pem, else "./parleyd-identity.pem".
std::string default_identity_key_path(const Environment& env);
// $RUNTIME_DIRECTORY/control.sock (its first entry), else none: outside systemd the admin socket
// is only where the config file puts it.
std::optional<Control> default_control(const Environment& env);
Config default_config(const Environment& env);
// cluster.node's default: the host name, then "-" and the instance if there is one, each with
// every character outside [A-Za-z0-9_-] replaced by '-', the host name shortened so the whole
// fits kMaxClusterName. Stable across restarts (never the pid). Nullopt without a host name.
std::optional<std::string> default_node_name(const Environment& env);

struct ConfigError {
  std::string path;  // "limits.max_frame", "listen[1].port", "suites[2]"; "" for the document
  std::string message;
  // "limits.max_frame: expected an integer in [16384, 16777216], got 10"
  std::string to_string() const;
  bool operator==(const ConfigError&) const = default;
};

using ParseResult = std::variant<Config, std::vector<ConfigError>>;

// Reports every problem found, not just the first. Keys missing from the document take
// their defaults; unknown keys anywhere are errors.
ParseResult parse_config(std::string_view json_text, const Environment& env);
// Reads the file, then parse_config. A file it cannot read is one error with path "".
ParseResult load_config_file(const std::string& path, const Environment& env);

// Pretty-printed, every key present (absent optionals as null), stable order;
// parse_config(to_json(c), env) == c for any env.
std::string to_json(const Config& config);

struct ConfigDiff {
  std::vector<std::string> changed;       // "listen", "suites", "limits.rate", "log.file", ...
  std::vector<std::string> need_restart;  // those of changed that SIGHUP cannot apply
  bool operator==(const ConfigDiff&) const = default;
};
ConfigDiff diff(const Config& old_config, const Config& new_config);

}  // namespace parley::config
