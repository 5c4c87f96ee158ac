// Structured operator logs for parleyd. Every event has its own function with typed fields, so
// message text, secrets and key material have no parameter through which to reach a log line;
// the only free text is `reason`/`error`/`what`, which the server composes itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "parley/config.hpp"

namespace spdlog {
class logger;
}

namespace parley::server {

class ReopenableFileSink;

using LogFormat = config::LogFormat;

struct LogOptions {
  LogFormat format = LogFormat::json;
  std::string level = "info";       // trace|debug|info|warn|error|critical|off
  std::optional<std::string> file;  // absent = stderr
};

class EventLog {
 public:
  // Throws std::runtime_error if the file cannot be opened or the level is unknown.
  explicit EventLog(const LogOptions& options);
  // For tests: lines go to a caller-owned stream, which must outlive this object.
  EventLog(const LogOptions& options, std::ostream& sink_for_tests);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void set_level(const std::string& level);  // throws std::runtime_error on unknown level
  // File sink: open the configured path again (logrotate, SIGHUP). If that fails the old file
  // stays in use and std::runtime_error is thrown. No-op on stderr.
  void reopen();
  void flush();

  // tls_certificate: a TLS listener's certificate (subject, expiry); "" = plain TCP, omitted.
  void listening(std::string_view address, std::uint16_t port, std::string_view fingerprint,
                 std::string_view tls_certificate = "");
  // The metrics endpoint is bound; warn when it is reachable from beyond this host.
  void metrics_listening(std::string_view address, std::uint16_t port, bool loopback);
  // The admin socket is bound (parleyctl(8)).
  void control_listening(std::string_view path);
  // A connection to the admin socket from a user who may not use it (warn).
  void control_refused(std::uint64_t uid, std::int64_t pid);
  // Operator actions through the admin socket. Operator text (a kick reason, a notice) is
  // counted, never logged. expires: Unix seconds, absent for a ban without end.
  void ban(std::string_view kind, std::string_view target, std::optional<std::int64_t> expires,
           std::size_t sessions_ended);
  void unban(std::string_view kind, std::string_view target);
  // A client refused for a banned identity key, at its finished (an address ban refuses at
  // accept, logged as admission_refused).
  void ban_refused(std::uint64_t session, std::string_view peer, std::string_view fingerprint);
  void kick(std::uint64_t session, std::string_view nick, std::size_t reason_bytes);
  // room "" = every session, omitted.
  void notice(std::string_view room, std::size_t text_bytes, std::size_t recipients);
  void drain(std::size_t sessions);
  void session_open(std::uint64_t session, std::string_view peer);
  // client_fingerprint "" = anonymous client, field omitted; tls "" = plain TCP, omitted (else
  // the TLS version and cipher, "TLSv1.3 TLS_AES_256_GCM_SHA384").
  void handshake_ok(std::uint64_t session, std::string_view peer, std::string_view suite,
                    std::string_view client_fingerprint, std::uint64_t duration_ms,
                    std::string_view tls = "");
  void handshake_failed(std::uint64_t session, std::string_view peer, std::string_view code,
                        std::string_view reason);
  // fingerprint "" = unknown, field omitted.
  void auth_failed(std::uint64_t session, std::string_view peer, std::string_view fingerprint,
                   std::string_view reason);
  // The first refusal of a source for a reason in an interval; the rest are counted and logged
  // as one admission_refused_more line at its end.
  void admission_refused(std::string_view peer, std::string_view reason);
  void admission_refused_more(std::string_view source, std::string_view reason, std::uint64_t count,
                              std::uint64_t interval_s);
  void nick(std::uint64_t session, std::string_view old_nick, std::string_view new_nick);
  void join(std::uint64_t session, std::string_view nick, std::string_view room);
  void part(std::uint64_t session, std::string_view nick, std::string_view room);
  void rate_limited(std::uint64_t session, std::string_view nick);
  // stalled_ms: set when the peer took nothing for write_deadline_ms (else the outbox was full).
  void slow_consumer(std::uint64_t session, std::string_view peer, std::string_view nick,
                     std::uint64_t unsent_bytes, std::optional<std::uint64_t> stalled_ms);
  struct SessionCounters {
    std::uint64_t bytes_in, bytes_out, records_in, records_out, duration_ms;
  };
  void session_close(std::uint64_t session, std::string_view peer, std::string_view nick,
                     std::string_view code, std::string_view reason, const SessionCounters&);
  // error "" when ok, field omitted.
  void reload(bool ok, const std::vector<std::string>& changed,
              const std::vector<std::string>& need_restart, std::string_view error);
  void shutdown(std::string_view signal, std::size_t sessions);
  struct Stats {
    std::size_t sessions, handshakes_pending, rooms;
    double messages_per_s, bytes_in_per_s, bytes_out_per_s;
    std::uint64_t idle_trims;  // since start
  };
  void stats(const Stats&);
  void nofile_limit(std::uint64_t soft, std::uint64_t hard, std::uint64_t needed, bool sufficient);
  // The identity key at start: created (first start), or readable by group or others (warn).
  void identity_key(std::string_view path, bool created, bool too_open);
  void accept_error(std::string_view error, std::uint64_t backoff_ms);
  // The cluster at start (docs/cluster.md). `servers` are shown without user:password@.
  // Joined: this node's entry is published and every other node serves the same key; `nodes`
  // counts them with this one; `took_over` when an entry of an earlier process had to be replaced.
  void cluster_joined(std::string_view node, const std::vector<std::string>& servers,
                      std::string_view connected, std::size_t nodes, bool took_over);
  // NATS unreachable and cluster.when_unreachable "single": this node runs alone (warn).
  void cluster_unavailable(const std::vector<std::string>& servers, std::string_view error);
  // The node may not start: unreachable with "fail", another key, or its name taken (error).
  void cluster_refused(std::string_view error);
  // NATS lost while running (warn): requests that need the cluster are refused `unavailable`
  // until it is back (cluster_restored, info).
  void cluster_degraded(std::string_view state);
  void cluster_restored();
  void internal_error(std::optional<std::uint64_t> session, std::string_view what);

 private:
  // Mirrors spdlog::level::level_enum without exposing spdlog in this header.
  enum class Level { trace, debug, info, warn, error, critical, off };

  EventLog(const LogOptions& options, std::ostream* sink_for_tests);
  bool enabled(Level level) const;
  nlohmann::ordered_json head(Level level, std::string_view event) const;
  void emit(Level level, const nlohmann::ordered_json& event);

  LogFormat format_;
  std::shared_ptr<ReopenableFileSink> file_sink_;  // null unless logging to a file
  std::unique_ptr<spdlog::logger> logger_;
};

}  // namespace parley::server
