#include "event_log.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <utility>

#include <spdlog/details/file_helper.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "parley/names.hpp"

namespace parley::server {

using nlohmann::ordered_json;

// Appends to a file and can switch to a fresh file at the same path, so logrotate can move the
// old one away and signal us. Single-threaded server, hence null_mutex.
class ReopenableFileSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit ReopenableFileSink(const std::string& path) : path_(path), file_(open_file(path)) {}

  void reopen() {
    std::lock_guard lock(mutex_);
    // Open the new file before dropping the old one: if the open fails we keep logging into the
    // rotated file rather than into nothing.
    auto fresh = open_file(path_);
    file_->flush();
    file_ = std::move(fresh);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_->write(formatted);
    // warn and above are what an operator looks for after a crash, so they never wait in the
    // stdio buffer; the rest is flushed by the server's periodic flush().
    if (msg.level >= spdlog::level::warn) file_->flush();
  }
  void flush_() override { file_->flush(); }

 private:
  static std::unique_ptr<spdlog::details::file_helper> open_file(const std::string& path) {
    auto file = std::make_unique<spdlog::details::file_helper>();
    try {
      file->open(path, /*truncate=*/false);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot open log file '" + path + "': " + e.what());
    }
    return file;
  }

  std::string path_;
  std::unique_ptr<spdlog::details::file_helper> file_;
};

namespace {

// The config's names (config::kLogLevels, in spdlog's order), not spdlog's: spdlog prints
// "warning", the config and the logs say "warn".
spdlog::level::level_enum parse_level(const std::string& level) {
  for (std::size_t i = 0; i < config::kLogLevels.size(); ++i) {
    if (config::kLogLevels[i] == level) return static_cast<spdlog::level::level_enum>(i);
  }
  throw std::runtime_error("unknown log level '" + level +
                           "' (expected trace, debug, info, warn, error, critical or off)");
}
static_assert(spdlog::level::trace == 0 && spdlog::level::warn == 3 && spdlog::level::off == 6);

std::string dump(const ordered_json& j) {
  // ASCII only: every byte a peer chose that a terminal or a log viewer could act on (DEL, C1
  // controls such as U+009B CSI, line separators, bidi overrides) comes out as a \u escape, and
  // jq reads it back as it was. replace, not strict: a byte sequence that is not UTF-8 must never
  // turn a log call into an exception.
  return j.dump(-1, ' ', true, ordered_json::error_handler_t::replace);
}

// Text a peer chose (a close reason) or may have shaped (an exception's message), cut to a
// length a log line can afford, at a UTF-8 boundary.
std::string bounded(std::string_view text) {
  constexpr std::size_t kMax = 200;
  if (text.size() <= kMax) return std::string(text);
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  return std::string(text.substr(0, cut)) + "...(" + std::to_string(text.size()) + " bytes)";
}

// Bare only when the value cannot be misread by a key=value splitter or smuggle a line break;
// everything else, including non-ASCII, goes out JSON-quoted.
bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (const unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void append_text_value(std::string& out, const ordered_json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (needs_quotes(s)) {
      out += dump(v);
    } else {
      out += s;
    }
  } else if (v.is_array()) {
    // Comma-joined, so a list of config keys stays one greppable token.
    std::string joined;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i != 0) joined += ',';
      joined += v[i].is_string() ? v[i].get<std::string>() : dump(v[i]);
    }
    if (needs_quotes(joined)) {
      out += dump(ordered_json(joined));
    } else {
      out += joined;
    }
  } else {
    out += dump(v);
  }
}

std::string render_text(const ordered_json& event) {
  // ts level event are positional; the rest are key=value in the order the event defines.
  std::string out;
  std::size_t index = 0;
  for (const auto& [key, value] : event.items()) {
    if (index != 0) out += ' ';
    if (index < 3) {
      out += value.get<std::string>();
    } else {
      out += key;
      out += '=';
      append_text_value(out, value);
    }
    ++index;
  }
  return out;
}

// Rates only need to be readable; three decimals keep the lines short.
double round3(double x) {
  return std::isfinite(x) ? std::round(x * 1000.0) / 1000.0 : 0.0;
}

}  // namespace

EventLog::EventLog(const LogOptions& options) : EventLog(options, nullptr) {}

EventLog::EventLog(const LogOptions& options, std::ostream& sink_for_tests)
    : EventLog(options, &sink_for_tests) {}

EventLog::EventLog(const LogOptions& options, std::ostream* sink_for_tests)
    : format_(options.format) {
  const auto level = parse_level(options.level);
  spdlog::sink_ptr sink;
  if (sink_for_tests != nullptr) {
    sink = std::make_shared<spdlog::sinks::ostream_sink_st>(*sink_for_tests);
  } else if (options.file) {
    file_sink_ = std::make_shared<ReopenableFileSink>(*options.file);
    sink = file_sink_;
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
  }
  logger_ = std::make_unique<spdlog::logger>("parleyd", std::move(sink));
  // The line is composed here, timestamp included, so spdlog adds nothing.
  logger_->set_pattern("%v");
  logger_->set_level(level);
  // Files flush warn+ inside the sink; stderr and test streams flush per line so that journald
  // and tests see each event at once.
  logger_->flush_on(file_sink_ ? spdlog::level::off : spdlog::level::trace);
}

EventLog::~EventLog() = default;

void EventLog::set_level(const std::string& level) {
  logger_->set_level(parse_level(level));
}

void EventLog::reopen() {
  if (file_sink_) file_sink_->reopen();
}

void EventLog::flush() {
  logger_->flush();
}

bool EventLog::enabled(Level level) const {
  return logger_->should_log(static_cast<spdlog::level::level_enum>(level));
}

ordered_json EventLog::head(Level level, std::string_view event) const {
  ordered_json j;
  j["ts"] = parley::format_timestamp(std::chrono::system_clock::now());
  j["level"] = config::kLogLevels[static_cast<std::size_t>(level)];
  j["event"] = event;
  return j;
}

void EventLog::emit(Level level, const ordered_json& event) {
  const std::string line = format_ == LogFormat::json ? dump(event) : render_text(event);
  logger_->log(static_cast<spdlog::level::level_enum>(level), spdlog::string_view_t(line));
}

void EventLog::listening(std::string_view address, std::uint16_t port, std::string_view fingerprint,
                         std::string_view tls_certificate) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "listening");
  j["address"] = address;
  j["port"] = port;
  j["fingerprint"] = fingerprint;
  if (!tls_certificate.empty()) {
    j["tls"] = true;
    j["certificate"] = bounded(tls_certificate);
  }
  emit(level, j);
}

void EventLog::metrics_listening(std::string_view address, std::uint16_t port, bool loopback) {
  const Level level = loopback ? Level::info : Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "metrics_listening");
  j["address"] = address;
  j["port"] = port;
  j["loopback"] = loopback;
  emit(level, j);
}

void EventLog::control_listening(std::string_view path) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "control_listening");
  j["path"] = bounded(path);
  emit(level, j);
}

void EventLog::control_refused(std::uint64_t uid, std::int64_t pid) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "control_refused");
  j["uid"] = uid;
  j["pid"] = pid;
  emit(level, j);
}

void EventLog::ban(std::string_view kind, std::string_view target,
                   std::optional<std::int64_t> expires, std::size_t sessions_ended) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "ban");
  j["kind"] = kind;
  j["target"] = target;
  if (expires) j["expires"] = *expires;
  j["sessions_ended"] = sessions_ended;
  emit(level, j);
}

void EventLog::unban(std::string_view kind, std::string_view target) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "unban");
  j["kind"] = kind;
  j["target"] = target;
  emit(level, j);
}

void EventLog::ban_refused(std::uint64_t session, std::string_view peer,
                           std::string_view fingerprint) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "ban_refused");
  j["session"] = session;
  j["peer"] = peer;
  j["fingerprint"] = fingerprint;
  emit(level, j);
}

void EventLog::kick(std::uint64_t session, std::string_view nick, std::size_t reason_bytes) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "kick");
  j["session"] = session;
  j["nick"] = nick;
  j["reason_bytes"] = reason_bytes;
  emit(level, j);
}

void EventLog::notice(std::string_view room, std::size_t text_bytes, std::size_t recipients) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "notice");
  if (!room.empty()) j["room"] = room;
  j["text_bytes"] = text_bytes;
  j["recipients"] = recipients;
  emit(level, j);
}

void EventLog::drain(std::size_t sessions) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "drain");
  j["sessions"] = sessions;
  emit(level, j);
}

void EventLog::session_open(std::uint64_t session, std::string_view peer) {
  constexpr Level level = Level::debug;
  if (!enabled(level)) return;
  auto j = head(level, "session_open");
  j["session"] = session;
  j["peer"] = peer;
  emit(level, j);
}

void EventLog::handshake_ok(std::uint64_t session, std::string_view peer, std::string_view suite,
                            std::string_view client_fingerprint, std::uint64_t duration_ms,
                            std::string_view tls) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "handshake_ok");
  j["session"] = session;
  j["peer"] = peer;
  j["suite"] = suite;
  if (!client_fingerprint.empty()) j["client_fingerprint"] = client_fingerprint;
  if (!tls.empty()) j["tls"] = tls;
  j["duration_ms"] = duration_ms;
  emit(level, j);
}

void EventLog::handshake_failed(std::uint64_t session, std::string_view peer, std::string_view code,
                                std::string_view reason) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "handshake_failed");
  j["session"] = session;
  j["peer"] = peer;
  j["code"] = code;
  j["reason"] = bounded(reason);
  emit(level, j);
}

void EventLog::auth_failed(std::uint64_t session, std::string_view peer,
                           std::string_view fingerprint, std::string_view reason) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "auth_failed");
  j["session"] = session;
  j["peer"] = peer;
  if (!fingerprint.empty()) j["fingerprint"] = fingerprint;
  j["reason"] = bounded(reason);
  emit(level, j);
}

void EventLog::admission_refused(std::string_view peer, std::string_view reason) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "admission_refused");
  j["peer"] = peer;
  j["reason"] = reason;
  emit(level, j);
}

void EventLog::admission_refused_more(std::string_view source, std::string_view reason,
                                      std::uint64_t count, std::uint64_t interval_s) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "admission_refused_more");
  j["source"] = source;
  j["reason"] = reason;
  j["count"] = count;
  j["interval_s"] = interval_s;
  emit(level, j);
}

void EventLog::nick(std::uint64_t session, std::string_view old_nick, std::string_view new_nick) {
  constexpr Level level = Level::debug;
  if (!enabled(level)) return;
  auto j = head(level, "nick");
  j["session"] = session;
  j["old_nick"] = old_nick;
  j["new_nick"] = new_nick;
  emit(level, j);
}

void EventLog::join(std::uint64_t session, std::string_view nick, std::string_view room) {
  constexpr Level level = Level::debug;
  if (!enabled(level)) return;
  auto j = head(level, "join");
  j["session"] = session;
  j["nick"] = nick;
  j["room"] = room;
  emit(level, j);
}

void EventLog::part(std::uint64_t session, std::string_view nick, std::string_view room) {
  constexpr Level level = Level::debug;
  if (!enabled(level)) return;
  auto j = head(level, "part");
  j["session"] = session;
  j["nick"] = nick;
  j["room"] = room;
  emit(level, j);
}

void EventLog::rate_limited(std::uint64_t session, std::string_view nick) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "rate_limited");
  j["session"] = session;
  j["nick"] = nick;
  emit(level, j);
}

void EventLog::slow_consumer(std::uint64_t session, std::string_view peer, std::string_view nick,
                             std::uint64_t unsent_bytes, std::optional<std::uint64_t> stalled_ms) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "slow_consumer");
  j["session"] = session;
  j["peer"] = peer;
  j["nick"] = nick;
  j["unsent_bytes"] = unsent_bytes;
  if (stalled_ms) j["stalled_ms"] = *stalled_ms;
  emit(level, j);
}

void EventLog::session_close(std::uint64_t session, std::string_view peer, std::string_view nick,
                             std::string_view code, std::string_view reason,
                             const SessionCounters& c) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "session_close");
  j["session"] = session;
  j["peer"] = peer;
  j["nick"] = nick;
  j["code"] = code;
  j["reason"] = bounded(reason);
  j["bytes_in"] = c.bytes_in;
  j["bytes_out"] = c.bytes_out;
  j["records_in"] = c.records_in;
  j["records_out"] = c.records_out;
  j["duration_ms"] = c.duration_ms;
  emit(level, j);
}

void EventLog::reload(bool ok, const std::vector<std::string>& changed,
                      const std::vector<std::string>& need_restart, std::string_view error) {
  // A change that waits for a restart is one an operator may believe applied: say it louder.
  const Level level = !ok ? Level::error : need_restart.empty() ? Level::info : Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "reload");
  j["ok"] = ok;
  j["changed"] = changed;
  j["need_restart"] = need_restart;
  if (!error.empty()) j["error"] = error;
  emit(level, j);
}

void EventLog::cluster_joined(std::string_view node, const std::vector<std::string>& servers,
                              std::string_view connected, std::size_t nodes, bool took_over) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "cluster_joined");
  j["node"] = node;
  j["servers"] = servers;
  j["connected"] = connected;
  j["nodes"] = nodes;
  if (took_over) j["took_over"] = true;
  emit(level, j);
}

void EventLog::cluster_unavailable(const std::vector<std::string>& servers,
                                   std::string_view error) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "cluster_unavailable");
  j["servers"] = servers;
  j["error"] = bounded(error);
  emit(level, j);
}

void EventLog::cluster_degraded(std::string_view state) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "cluster_degraded");
  j["state"] = std::string(state);
  emit(level, j);
}

void EventLog::cluster_restored() {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  emit(level, head(level, "cluster_restored"));
}

void EventLog::cluster_refused(std::string_view error) {
  constexpr Level level = Level::error;
  if (!enabled(level)) return;
  auto j = head(level, "cluster_refused");
  // Composed here (node names, fingerprints, the servers): longer than bounded() keeps, and
  // the whole of it is what the operator needs.
  j["error"] = error.substr(0, 1024);
  emit(level, j);
}

void EventLog::shutdown(std::string_view signal, std::size_t sessions) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "shutdown");
  j["signal"] = signal;
  j["sessions"] = sessions;
  emit(level, j);
}

void EventLog::stats(const Stats& s) {
  constexpr Level level = Level::info;
  if (!enabled(level)) return;
  auto j = head(level, "stats");
  j["sessions"] = s.sessions;
  j["handshakes_pending"] = s.handshakes_pending;
  j["rooms"] = s.rooms;
  j["messages_per_s"] = round3(s.messages_per_s);
  j["bytes_in_per_s"] = round3(s.bytes_in_per_s);
  j["bytes_out_per_s"] = round3(s.bytes_out_per_s);
  j["idle_trims"] = s.idle_trims;
  emit(level, j);
}

void EventLog::nofile_limit(std::uint64_t soft, std::uint64_t hard, std::uint64_t needed,
                            bool sufficient) {
  const Level level = sufficient ? Level::info : Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "nofile_limit");
  j["soft"] = soft;
  j["hard"] = hard;
  j["needed"] = needed;
  j["sufficient"] = sufficient;
  emit(level, j);
}

void EventLog::identity_key(std::string_view path, bool created, bool too_open) {
  const Level level = too_open ? Level::warn : Level::info;
  if (!enabled(level) || (!created && !too_open)) return;
  auto j = head(level, created ? "identity_key_created" : "identity_key_too_open");
  j["path"] = bounded(path);
  if (created && too_open) j["too_open"] = true;
  emit(level, j);
}

void EventLog::accept_error(std::string_view error, std::uint64_t backoff_ms) {
  constexpr Level level = Level::warn;
  if (!enabled(level)) return;
  auto j = head(level, "accept_error");
  j["error"] = error;
  j["backoff_ms"] = backoff_ms;
  emit(level, j);
}

void EventLog::internal_error(std::optional<std::uint64_t> session, std::string_view what) {
  constexpr Level level = Level::error;
  if (!enabled(level)) return;
  auto j = head(level, "internal_error");
  if (session) j["session"] = *session;
  j["what"] = bounded(what);
  emit(level, j);
}

}  // namespace parley::server
