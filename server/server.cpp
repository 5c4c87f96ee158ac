#include "server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <csignal>

#include "parley/concat.hpp"
#include "parley/frame.hpp"
#include "parley/hello.hpp"
#include "session.hpp"
#include "tls_context.hpp"

namespace parley::server {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Longer than a session's linger (5 s), so every session ends, and is logged, on its own; the
// grace is the backstop.
constexpr std::chrono::seconds kShutdownGrace{6};
constexpr std::chrono::milliseconds kAcceptBackoffMin{50};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};
// STATUS= is a convenience for `systemctl status`; once a second is plenty and bounds the
// datagrams under a connection storm.
constexpr std::chrono::seconds kStatusPeriod{1};
// Admission refusals beyond the first of a source are logged as one count per this interval.
constexpr std::chrono::seconds kRefusalInterval{10};
// The lag timer's period: often enough to catch a long turn of the loop, rare enough to cost
// nothing (ten wake-ups a second, only while metrics are served).
constexpr std::chrono::milliseconds kLagPeriod{100};
// How often history past its age is swept out of rooms nobody touches (reads and writes of a
// room expire its own at once); a sweep costs only what it evicts.
constexpr std::chrono::seconds kHistorySweepPeriod{30};

std::string endpoint_text(const tcp::endpoint& e) {
  const auto a = e.address();
  const std::string host = a.to_string(), port = std::to_string(e.port());
  return a.is_v6() ? concat("[", host, "]:", port) : concat(host, ":", port);
}

// Admission refusal (PROTOCOL.md 4): one Error frame, without reading the ClientHello.
awaitable<void> refuse_busy(tcp::socket socket) {
  const Bytes frame =
      encode_frame(encode(ErrorFrame{StatusCode::server_full, "busy, retry later"}));
  co_await asio::async_write(socket, asio::buffer(frame), use_tuple);
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

// How far apart to spread the reconnections of `sessions` clients after a shutdown: at about
// kReconnectsPerSecond (a handshake costs an RSA signature), at least one second, at most one
// minute.
std::uint64_t reconnect_spread_ms(std::size_t sessions) {
  constexpr std::uint64_t kReconnectsPerSecond = 200;
  return std::clamp<std::uint64_t>(sessions * 1000 / kReconnectsPerSecond, 1000, 60000);
}

// Resource exhaustion on accept: back off instead of spinning on a full fd table.
bool is_resource_error(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec.value() == ENFILE;
}

std::string_view refusal_label(Admission::Verdict verdict) {
  switch (verdict) {
    case Admission::Verdict::source_rate:
      return refusal::kSourceRate;
    case Admission::Verdict::source_pending:
      return refusal::kSourcePending;
    case Admission::Verdict::too_many_pending:
    case Admission::Verdict::admitted:
      break;
  }
  return refusal::kTooManyPending;
}

std::string_view refusal_reason(Admission::Verdict verdict) {
  switch (verdict) {
    case Admission::Verdict::source_rate:
      return "handshake rate from this source";
    case Admission::Verdict::source_pending:
      return "too many handshakes in progress from this source";
    case Admission::Verdict::too_many_pending:
      return "too many handshakes in progress";
    case Admission::Verdict::admitted:
      break;
  }
  return "admitted";
}

std::string join(const std::vector<std::string>& parts) {
  std::string all;
  for (const auto& p : parts)
    all += (all.empty() ? "" : "; ") + p;
  return all;
}

}  // namespace

std::shared_ptr<const config::AuthorizedKeys> load_authorized_keys(const config::Config& config) {
  if (!config.auth.authorized_keys) return nullptr;
  auto loaded = config::load_authorized_keys_file(*config.auth.authorized_keys);
  if (auto* errors = std::get_if<std::vector<std::string>>(&loaded))
    throw std::runtime_error(join(*errors));
  return std::make_shared<const config::AuthorizedKeys>(
      std::move(std::get<config::AuthorizedKeys>(loaded)));
}

Server::Server(asio::io_context& io, ServerContext& ctx, std::string config_path,
               config::Environment env, Notifier& notifier, TransportFactory make_transport)
    : io_(io),
      ctx_(ctx),
      config_path_(std::move(config_path)),
      env_(std::move(env)),
      signals_(io, SIGINT, SIGTERM, SIGHUP),
      stats_timer_(io),
      notifier_(notifier),
      watchdog_timer_(io),
      status_timer_(io),
      refusal_timer_(io),
      lag_timer_(io),
      history_timer_(io),
      make_transport_(std::move(make_transport)) {}

void Server::listen() {
  // The admin socket first: once `listening` is logged, parleyctl can reach the server too.
  if (const auto& c = ctx_.config().control) {
    control_ = std::make_unique<ControlSocket>(
        io_, [this](ControlRequest request) { return on_control(std::move(request)); },
        [this](const ControlPeer& peer) {
          ctx_.log.control_refused(peer.uid, static_cast<std::int64_t>(peer.pid));
        });
    control_->listen(c->socket);
    ctx_.log.control_listening(c->socket);
  }
  for (const auto& l : ctx_.config().listen) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(l.address, ec);
    if (ec) throw std::runtime_error("listen address " + l.address + ": " + ec.message());
    const tcp::endpoint endpoint(address, l.port);
    auto listener = std::make_unique<Listener>(Listener{tcp::acceptor(io_), l.tls, nullptr});
    if (l.tls) listener->tls_context = make_tls_context(*l.tls);
    tcp::acceptor* acceptor = &listener->acceptor;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    // Several parleyd on one port (docs/cluster.md): the kernel spreads new connections over
    // every socket bound with SO_REUSEPORT by the same user.
    if (!ec && l.reuse_port) {
      using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
      acceptor->set_option(reuse_port(true), ec);
    }
    if (!ec && address.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
    const auto bound = acceptor->local_endpoint();
    ctx_.log.listening(bound.address().to_string(), bound.port(), ctx_.identity.fingerprint(),
                       listener->tls_context ? describe_certificate(*listener->tls_context) : "");
    listeners_.push_back(std::move(listener));
  }
  if (const auto& m = ctx_.config().metrics) {
    // The page is built on demand, on this loop; reading /proc there is a small blocking read.
    metrics_ = std::make_unique<MetricsEndpoint>(
        io_, [this] { return render_metrics(ctx_, read_process_sample()); });
    const auto bound = metrics_->listen(m->address, m->port);
    ctx_.log.metrics_listening(bound.address().to_string(), bound.port(),
                               bound.address().is_loopback());
  }
}

void Server::start() {
  auto on_error = [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      ctx_.log.internal_error(std::nullopt, x.what());
    }
  };
  for (auto& l : listeners_)
    asio::co_spawn(io_, accept_loop(*l), on_error);
  asio::co_spawn(io_, handle_signals(), on_error);
  asio::co_spawn(io_, stats_loop(), on_error);
  asio::co_spawn(io_, history_sweep_loop(), on_error);
  if (metrics_) {
    metrics_->start();
    asio::co_spawn(io_, lag_loop(), on_error);
  }
  if (control_) control_->start();
  if (!notifier_.enabled()) return;
  // The listeners were bound and listening in listen(): the kernel queues connections from
  // there on, so a client that acts on READY=1 is never refused.
  notifier_.ready(status_text());
  if (auto interval = notifier_.watchdog()) asio::co_spawn(io_, watchdog_loop(*interval), on_error);
  asio::co_spawn(io_, status_loop(), on_error);
}

std::string Server::status_text() const {
  std::string text = "sessions: " + std::to_string(ctx_.established) +
                     ", handshakes in progress: " + std::to_string(ctx_.admission.pending());
  if (last_reload_failed_) text += "; last reload failed, previous configuration in force";
  return text;
}

awaitable<void> Server::watchdog_loop(std::chrono::microseconds interval) {
  // Half the interval, as sd_watchdog_enabled(3) advises: one late turn is not yet a restart.
  const auto period = interval / 2;
  while (!shutting_down_) {
    notifier_.watchdog_ping();
    watchdog_timer_.expires_after(period);
    auto [ec] = co_await watchdog_timer_.async_wait(use_tuple);
    if (ec) co_return;
  }
}

awaitable<void> Server::status_loop() {
  std::string sent = status_text();
  while (!shutting_down_) {
    status_timer_.expires_after(kStatusPeriod);
    auto [ec] = co_await status_timer_.async_wait(use_tuple);
    if (ec || shutting_down_) co_return;
    std::string now = status_text();
    if (now == sent) continue;
    notifier_.status(now);
    sent = std::move(now);
  }
}

awaitable<void> Server::accept_loop(Listener& listener) {
  tcp::acceptor& acceptor = listener.acceptor;
  auto backoff = kAcceptBackoffMin;
  asio::steady_timer pause(io_);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (shutting_down_ || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      const bool exhausted = is_resource_error(ec);
      ctx_.log.accept_error(ec.message(),
                            exhausted ? static_cast<std::uint64_t>(backoff.count()) : 0);
      if (exhausted) {
        pause.expires_after(backoff);
        co_await pause.async_wait(use_tuple);
        backoff = std::min(backoff * 2, kAcceptBackoffMax);
      }
      continue;
    }
    backoff = kAcceptBackoffMin;
    ++ctx_.metrics.connections_accepted;
    boost::system::error_code peer_ec;
    const tcp::endpoint peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;  // gone already
    const std::string peer_text = endpoint_text(peer);

    // An operator's ban: closed at once, before a byte is read or any cryptography, and logged
    // like the other refusals at accept (one line per source and interval).
    if (!ctx_.bans.empty() && ctx_.bans.address_banned(peer.address().to_string(), unix_now())) {
      ctx_.metrics.admission_refusals.add({refusal::kBanned});
      log_refusal(peer.address(), peer_text, "address banned");
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }

    const std::uint64_t id = next_session_id_ + 1;
    const auto decision = ctx_.admission.admit(id, peer.address(), steady_clock::now());
    if (decision.verdict != Admission::Verdict::admitted) {
      ctx_.metrics.admission_refusals.add({refusal_label(decision.verdict)});
      log_refusal(peer.address(), peer_text, refusal_reason(decision.verdict));
      // Before any cryptography. On a TLS listener a refusal just closes: no Error frame can be
      // said before TLS is up, and the refusal is meant to cost nothing.
      if (listener.tls_context) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        asio::co_spawn(io_, refuse_busy(std::move(socket)), asio::detached);
      }
      continue;
    }
    if (decision.evicted) {
      ctx_.metrics.admission_refusals.add({refusal::kEvicted});
      if (auto it = ctx_.sessions.find(*decision.evicted); it != ctx_.sessions.end())
        it->second->evict();
    }
    next_session_id_ = id;
    auto transport = listener.tls_context
                         ? make_tls_transport(std::move(socket), *listener.tls_context)
                         : make_transport_(std::move(socket));
    auto session =
        std::make_shared<Session>(ctx_, std::move(transport), AdmissionSlot(ctx_.admission, id), id,
                                  peer_text, source_key(peer.address()));
    ctx_.sessions.emplace(id, session);
    asio::co_spawn(io_, Session::run(std::move(session)), asio::detached);
  }
}

void Server::log_refusal(const asio::ip::address& address, const std::string& peer,
                         std::string_view reason) {
  if (refusals_.note(source_key(address), reason)) ctx_.log.admission_refused(peer, reason);
  if (refusal_intervals_running_) return;
  refusal_intervals_running_ = true;
  asio::co_spawn(io_, refusal_intervals(), asio::detached);
}

awaitable<void> Server::refusal_intervals() {
  // Ends after an interval without refusals, so an untroubled server has no timer for it.
  for (bool active = true; active;) {
    refusal_timer_.expires_after(kRefusalInterval);
    auto [ec] = co_await refusal_timer_.async_wait(use_tuple);
    active = !ec && !refusals_.empty();
    log_refusal_counts();
  }
  refusal_intervals_running_ = false;
}

void Server::log_refusal_counts() {
  const auto interval_s = static_cast<std::uint64_t>(kRefusalInterval.count());
  for (const auto& c : refusals_.end_interval())
    ctx_.log.admission_refused_more(c.source, c.reason, c.count, interval_s);
}

awaitable<void> Server::handle_signals() {
  for (;;) {
    auto [ec, signo] = co_await signals_.async_wait(use_tuple);
    if (ec) co_return;
    if (signo == SIGHUP) {
      // The manager shows "reloading" until the READY=1 that follows, failed reload or not.
      notifier_.reloading();
      last_reload_failed_ = !reload();
      notifier_.ready(status_text());
      continue;
    }
    if (shutting_down_) continue;  // draining already (parleyctl drain)
    const std::string_view signal_name = signo == SIGTERM ? "SIGTERM" : "SIGINT";
    ctx_.log.shutdown(signal_name, ctx_.sessions.size());
    begin_shutdown("shutting down on " + std::string(signal_name) + ", closing " +
                   std::to_string(ctx_.sessions.size()) + " sessions");
    co_return;
  }
}

bool Server::reload() {
  const std::optional<std::string> error = try_reload();
  if (error) ctx_.log.reload(false, {}, {}, *error);
  return !error;
}

std::optional<std::string> Server::try_reload() {
  // The log file first, whatever becomes of the configuration: logrotate's SIGHUP must move us
  // to the new file even while the config file is broken. A file that cannot be reopened keeps
  // the old one in use, and the old configuration whole.
  try {
    ctx_.log.reopen();
    if (config_path_.empty()) return "running on the embedded default config: nothing to reload";
    auto loaded = config::load_config_file(config_path_, env_);
    if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
      std::vector<std::string> texts;
      for (const auto& e : *errors)
        texts.push_back(e.to_string());
      return join(texts);
    }
    auto next = std::get<config::Config>(std::move(loaded));
    auto keys = load_authorized_keys(next);
    // The TLS files at the paths in force (changing the paths needs a restart, like `listen`):
    // all re-read before anything is applied, so a bad file keeps the old pair in use.
    std::vector<std::shared_ptr<asio::ssl::context>> tls_contexts;
    for (const auto& l : listeners_)
      tls_contexts.push_back(l->tls ? make_tls_context(*l->tls) : nullptr);
    ctx_.log.set_level(next.log.level);
    const config::ConfigDiff diff = config::diff(ctx_.config(), next);
    // Listeners, the metrics endpoint, the identity key and the log sink stay as they are until
    // a restart.
    next.listen = ctx_.config().listen;
    next.metrics = ctx_.config().metrics;
    next.identity_key = ctx_.config().identity_key;
    next.log.format = ctx_.config().log.format;
    next.log.file = ctx_.config().log.file;
    next.cluster = ctx_.config().cluster;  // joined once, at start
    ctx_.apply(std::move(next), std::move(keys));
    for (std::size_t i = 0; i < listeners_.size(); ++i)
      if (tls_contexts[i]) listeners_[i]->tls_context = std::move(tls_contexts[i]);
    ctx_.log.reload(true, diff.changed, diff.need_restart, "");
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

void Server::begin_shutdown(const std::string& stopping) {
  shutting_down_ = true;
  notifier_.stopping(stopping);
  boost::system::error_code ec;
  for (auto& l : listeners_)
    l->acceptor.close(ec);
  if (control_) control_->stop();
  stats_timer_.cancel();
  // After STOPPING=1 the manager no longer holds us to the watchdog; TimeoutStopSec= bounds
  // the drain instead.
  watchdog_timer_.cancel();
  status_timer_.cancel();
  refusal_timer_.cancel();  // drain_and_stop() logs the counts so far
  if (metrics_) metrics_->stop();
  lag_timer_.cancel();
  history_timer_.cancel();
  // Copy first: a session may leave the table while we walk it.
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [id, s] : ctx_.sessions)
    all.push_back(s);
  // Lame duck (PROTOCOL.md 6.7): each session is told when to come back, spread so that the
  // reconnections arrive at about the rate handshakes can be served, not all at once.
  const std::uint64_t spread_ms = reconnect_spread_ms(all.size());
  for (auto& s : all) {
    std::uint32_t draw = 0;
    ctx_.rng.randomize(reinterpret_cast<std::uint8_t*>(&draw), sizeof draw);
    s->shut_down(draw % spread_ms);
  }
  asio::co_spawn(io_, drain_and_stop(), asio::detached);
}

awaitable<void> Server::drain_and_stop() {
  // Sessions leave the table as their writers flush; the grace period bounds it.
  const auto deadline = steady_clock::now() + kShutdownGrace;
  asio::steady_timer tick(io_);
  while (!ctx_.sessions.empty() && steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(use_tuple);
  }
  log_refusal_counts();
  ctx_.log.flush();
  io_.stop();
}

awaitable<void> Server::lag_loop() {
  // Each wait is measured from the time it was due, and the next is due a period after the
  // wake-up (not after the due time), so one long turn is one late sample, not a burst of them.
  auto due = steady_clock::now() + kLagPeriod;
  while (!shutting_down_) {
    lag_timer_.expires_at(due);
    auto [ec] = co_await lag_timer_.async_wait(use_tuple);
    if (ec || shutting_down_) co_return;
    const auto now = steady_clock::now();
    ctx_.metrics.loop_lag_seconds.observe(std::chrono::duration<double>(now - due).count());
    due = now + kLagPeriod;
  }
}

awaitable<void> Server::history_sweep_loop() {
  while (!shutting_down_) {
    history_timer_.expires_after(kHistorySweepPeriod);
    auto [ec] = co_await history_timer_.async_wait(use_tuple);
    if (ec || shutting_down_) co_return;
    ctx_.hub.expire_history(std::chrono::system_clock::now());
  }
}

awaitable<void> Server::stats_loop() {
  auto last = steady_clock::now();
  Counters before = ctx_.counters;
  std::uint64_t relayed_before = ctx_.hub.stats().messages_relayed;
  while (!shutting_down_) {
    stats_timer_.expires_after(std::chrono::seconds(ctx_.config().log.stats_interval_s));
    auto [ec] = co_await stats_timer_.async_wait(use_tuple);
    if (ec || shutting_down_) co_return;
    const auto now = steady_clock::now();
    const double secs = std::chrono::duration<double>(now - last).count();
    const HubStats hub = ctx_.hub.stats();
    EventLog::Stats s{};
    s.sessions = ctx_.established;
    s.handshakes_pending = ctx_.admission.pending();
    s.rooms = hub.rooms;
    s.messages_per_s = static_cast<double>(hub.messages_relayed - relayed_before) / secs;
    s.bytes_in_per_s = static_cast<double>(ctx_.counters.bytes_in - before.bytes_in) / secs;
    s.bytes_out_per_s = static_cast<double>(ctx_.counters.bytes_out - before.bytes_out) / secs;
    s.idle_trims = ctx_.counters.idle_trims;
    ctx_.log.stats(s);
    ctx_.log.flush();
    last = now;
    before = ctx_.counters;
    relayed_before = hub.messages_relayed;
  }
}

}  // namespace parley::server
