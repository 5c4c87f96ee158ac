// What parleyd counts for its /metrics page (docs/metrics.md), and the page itself. The counts
// live in ServerContext and are bumped where the events happen, whether or not an endpoint is
// configured: each is an integer add (a short search for the labeled ones, which count handshakes
// and refusals, never deliveries), on the loop's one thread, so there is nothing to lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "prometheus_text.hpp"

namespace parley::server {

struct ServerContext;

// Why a connection was turned away before it became a session (docs/metrics.md).
namespace refusal {
inline constexpr std::string_view kSourceRate = "source_rate";
inline constexpr std::string_view kSourcePending = "source_pending";
inline constexpr std::string_view kTooManyPending = "too_many_pending";
inline constexpr std::string_view kEvicted = "evicted";
inline constexpr std::string_view kSourceSessions = "source_sessions";
inline constexpr std::string_view kServerFull = "server_full";
// An operator's ban (parleyctl ban): an address at accept, a key at the client's finished.
inline constexpr std::string_view kBanned = "banned";
}  // namespace refusal

struct ServerMetrics {
  ServerMetrics();

  std::uint64_t connections_accepted = 0;
  LabeledCounter admission_refusals{{"reason"}};
  // result: "ok" or the failure's code as logged (handshake_failed's `code`, "auth_failed");
  // suite: the agreed suite's name for "ok", "none" otherwise.
  LabeledCounter handshakes{{"result", "suite"}};
  Histogram handshake_seconds;              // accept to established, established ones only
  LabeledCounter slow_consumers{{"kind"}};  // outbox_full, write_stalled
  std::uint64_t rate_limited_requests = 0;
  Histogram loop_lag_seconds;  // how late the lag timer fired
};

// The process's own figures, from /proc/self; nullopt where it could not be read.
struct ProcessSample {
  std::optional<double> cpu_seconds;  // user + system
  std::optional<std::uint64_t> rss_bytes;
};
// Reads /proc/self/stat and /proc/self/statm: two small blocking reads of procfs, which the
// kernel answers from memory. Done only when a scrape asks (every 15 s or so), never on a timer.
ProcessSample read_process_sample();

// The whole exposition, from the counters, the hub, admission and the session table.
std::string render_metrics(const ServerContext& ctx, const ProcessSample& process);

}  // namespace parley::server
