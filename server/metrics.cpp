#include "metrics.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

#include "parley/suite.hpp"
#include "server_context.hpp"
#include "session.hpp"

namespace parley::server {
namespace {

// From a loopback client's 5 ms up to the 10 s default handshake_timeout_ms.
std::vector<double> handshake_bounds() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// The lag timer's own wake-up costs tens of microseconds; a millisecond is the first lag worth
// telling apart, a second is a loop that has stopped serving anyone.
std::vector<double> lag_bounds() {
  return {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};
}

// A small procfs file, whole (both are well under 1 KiB).
std::optional<std::string> read_proc(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::array<char, 4096> buf;
  const ssize_t n = ::read(fd, buf.data(), buf.size());
  ::close(fd);
  if (n <= 0) return std::nullopt;
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

// The whitespace-separated field `index` (0-based) of `text`.
std::optional<std::string> field(std::string_view text, std::size_t index) {
  std::size_t pos = 0;
  for (std::size_t i = 0;; ++i) {
    pos = text.find_first_not_of(" \n", pos);
    if (pos == std::string_view::npos) return std::nullopt;
    const std::size_t end = std::min(text.find_first_of(" \n", pos), text.size());
    if (i == index) return std::string(text.substr(pos, end - pos));
    pos = end;
  }
}

std::optional<std::uint64_t> number(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text->c_str(), &end, 10);
  if (*end != '\0') return std::nullopt;
  return n;
}

}  // namespace

ServerMetrics::ServerMetrics()
    : handshake_seconds(handshake_bounds()), loop_lag_seconds(lag_bounds()) {
  for (auto reason :
       {refusal::kSourceRate, refusal::kSourcePending, refusal::kTooManyPending, refusal::kEvicted,
        refusal::kSourceSessions, refusal::kServerFull, refusal::kBanned})
    admission_refusals.preset({reason});
  for (const auto& suite : all_suites())
    handshakes.preset({"ok", suite.name});
  slow_consumers.preset({"outbox_full"});
  slow_consumers.preset({"write_stalled"});
}

ProcessSample read_process_sample() {
  ProcessSample sample;
  // proc(5): the command name (field 2) is in parentheses and may hold spaces, so fields are
  // counted from the last ')'; utime and stime are fields 14 and 15, in clock ticks.
  if (const auto stat = read_proc("/proc/self/stat")) {
    const auto close = stat->rfind(')');
    if (close != std::string::npos) {
      const std::string_view rest = std::string_view(*stat).substr(close + 1);
      const auto utime = number(field(rest, 11));
      const auto stime = number(field(rest, 12));
      const long ticks = ::sysconf(_SC_CLK_TCK);
      if (utime && stime && ticks > 0)
        sample.cpu_seconds = static_cast<double>(*utime + *stime) / static_cast<double>(ticks);
    }
  }
  // statm: size, resident, ... in pages.
  if (const auto statm = read_proc("/proc/self/statm")) {
    const auto pages = number(field(*statm, 1));
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages && page_size > 0) sample.rss_bytes = *pages * static_cast<std::uint64_t>(page_size);
  }
  return sample;
}

std::string render_metrics(const ServerContext& ctx, const ProcessSample& process) {
  const ServerMetrics& m = ctx.metrics;
  TextWriter w;

  // One walk of the session table, at scrape time only: nothing per session is kept for it.
  std::uint64_t in_handshake = 0, established = 0, closing = 0;
  for (const auto& [id, session] : ctx.sessions) {
    switch (session->state()) {
      case Session::State::handshake:
        ++in_handshake;
        break;
      case Session::State::established:
        ++established;
        break;
      case Session::State::closing:
        ++closing;
        break;
    }
  }
  w.family("parley_sessions", "gauge",
           "Connections by state: handshake (accepted, not yet established), established, "
           "closing (ended, flushing its last records).");
  w.sample("parley_sessions", {{"state", "handshake"}}, in_handshake);
  w.sample("parley_sessions", {{"state", "established"}}, established);
  w.sample("parley_sessions", {{"state", "closing"}}, closing);

  w.family("parley_connections_accepted_total", "counter",
           "TCP connections accepted, before admission control.");
  w.sample("parley_connections_accepted_total", {}, m.connections_accepted);

  w.family("parley_admission_refusals_total", "counter",
           "Connections refused before becoming a session, by reason: at accept (source_rate, "
           "source_pending, too_many_pending, evicted, banned) or at the ClientHello (source_rate, "
           "source_sessions, server_full), or at the client's finished (banned).");
  w.counter("parley_admission_refusals_total", m.admission_refusals);

  w.family("parley_handshakes_total", "counter",
           "Handshakes that ended, by result (ok, or the failure's code) and agreed suite.");
  w.counter("parley_handshakes_total", m.handshakes);

  w.family("parley_handshake_duration_seconds", "histogram",
           "Time from accept to an established session, for handshakes that succeeded.");
  w.histogram("parley_handshake_duration_seconds", {}, m.handshake_seconds);

  const HubStats hub = ctx.hub.stats();
  w.family("parley_messages_relayed_total", "counter",
           "Messages (message and direct events) delivered, one per recipient.");
  w.sample("parley_messages_relayed_total", {}, hub.messages_relayed);

  w.family("parley_received_bytes_total", "counter",
           "Bytes read from clients, handshakes included.");
  w.sample("parley_received_bytes_total", {}, ctx.counters.bytes_in);
  w.family("parley_sent_bytes_total", "counter", "Bytes written to clients, handshakes included.");
  w.sample("parley_sent_bytes_total", {}, ctx.counters.bytes_out);

  w.family("parley_slow_consumers_total", "counter",
           "Sessions closed as slow consumers: outbox_full (over outbox_bytes) or write_stalled "
           "(nothing taken for write_deadline_ms).");
  w.counter("parley_slow_consumers_total", m.slow_consumers);

  w.family("parley_rate_limited_requests_total", "counter",
           "Records refused for being over the session's rate (each request gets a rate_limited "
           "error).");
  w.sample("parley_rate_limited_requests_total", {}, m.rate_limited_requests);

  w.family("parley_rooms", "gauge", "Rooms that exist now.");
  w.sample("parley_rooms", {}, static_cast<std::uint64_t>(hub.rooms));

  w.family("parley_history_messages", "gauge",
           "Room messages stored for history replay, in all rooms.");
  w.sample("parley_history_messages", {}, static_cast<std::uint64_t>(hub.history_messages));
  w.family("parley_history_bytes", "gauge",
           "What the stored history costs against history.max_bytes, in bytes.");
  w.sample("parley_history_bytes", {}, static_cast<std::uint64_t>(hub.history_bytes));

  w.family("parley_idle_trims_total", "counter",
           "Idle sessions that gave back their cipher objects and buffers.");
  w.sample("parley_idle_trims_total", {}, ctx.counters.idle_trims);

  w.family("parley_event_loop_lag_seconds", "histogram",
           "How late a 100 ms timer on the event loop fired: time the loop spent on other work.");
  w.histogram("parley_event_loop_lag_seconds", {}, m.loop_lag_seconds);

  if (process.cpu_seconds) {
    w.family("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
    w.sample("process_cpu_seconds_total", {}, *process.cpu_seconds);
  }
  if (process.rss_bytes) {
    w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    w.sample("process_resident_memory_bytes", {}, *process.rss_bytes);
  }
  return w.take();
}

}  // namespace parley::server
