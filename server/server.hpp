// parleyd's event loop: listeners with admission control, signals (SIGTERM,
// SIGINT: graceful stop; SIGHUP: reload), the periodic stats line, and the service manager's
// notifications (READY, RELOADING, STOPPING, STATUS, WATCHDOG).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control_socket.hpp"
#include "metrics_endpoint.hpp"
#include "refusal_log.hpp"
#include "sd_notify.hpp"
#include "server_context.hpp"
#include "transport.hpp"

namespace parley::server {

// The authorized_keys file the config names (null when it names none); throws
// std::runtime_error naming the file and every bad line.
std::shared_ptr<const config::AuthorizedKeys> load_authorized_keys(const config::Config& config);

class Server {
 public:
  // config_path is empty when running on the embedded default (SIGHUP then has nothing to read).
  // The notifier may be disabled (no $NOTIFY_SOCKET); it must outlive the server.
  // `make_transport` wraps each accepted connection (plain TCP in parleyd).
  Server(boost::asio::io_context& io, ServerContext& ctx, std::string config_path,
         config::Environment env, Notifier& notifier, TransportFactory make_transport);

  // Binds every listener, and the metrics endpoint and the admin socket if configured (throws
  // std::runtime_error naming the address), and logs `listening`, `metrics_listening` and
  // `control_listening`.
  void listen();
  // Starts accepting, handling signals and logging stats, then tells the service manager
  // READY=1 (every listener is bound by now, so connections queue from here on); returns at once.
  void start();

 private:
  // One bound address; a TLS listener also has the context its new connections are served with
  // (replaced by a reload that re-read its files).
  struct Listener {
    boost::asio::ip::tcp::acceptor acceptor;
    std::optional<config::Tls> tls;
    std::shared_ptr<boost::asio::ssl::context> tls_context;
  };

  boost::asio::awaitable<void> accept_loop(Listener& listener);
  // Logs a refusal, or counts it for the line that ends its interval (RefusalLog).
  void log_refusal(const boost::asio::ip::address& address, const std::string& peer,
                   std::string_view reason);
  // While refusals keep coming: one line per source and reason at the end of each interval.
  boost::asio::awaitable<void> refusal_intervals();
  void log_refusal_counts();
  boost::asio::awaitable<void> handle_signals();
  boost::asio::awaitable<void> stats_loop();
  // Evicts room history past its age every kHistorySweepPeriod.
  boost::asio::awaitable<void> history_sweep_loop();
  // While metrics are served: how late a periodic timer fires, into the lag histogram.
  boost::asio::awaitable<void> lag_loop();
  boost::asio::awaitable<void> drain_and_stop();
  // Pings the manager's watchdog from the event loop: a loop that stops turning stops pinging.
  boost::asio::awaitable<void> watchdog_loop(std::chrono::microseconds interval);
  // Sends STATUS= when the session count changed, at most once per kStatusPeriod.
  boost::asio::awaitable<void> status_loop();
  // True when the new configuration is in force.
  bool reload();
  // The new configuration and authorized keys, or why not (nullopt, logged).
  std::optional<std::string> try_reload();
  // SIGTERM, SIGINT and `parleyctl drain`: stop accepting everywhere, `goaway` and close to every
  // session, exit once they are gone (or after the grace period). `stopping` is the manager's
  // STATUS= text.
  void begin_shutdown(const std::string& stopping);

  // The admin socket's verbs (control_verbs.cpp).
  boost::asio::awaitable<ControlSocket::Reply> on_control(ControlRequest request);
  // Ban changes take turns (two operators banning at once both end up in the file): waits for
  // the turn and returns holding it; the holder resets saving_bans_ when done.
  boost::asio::awaitable<void> take_ban_turn();
  // Writes `next` (off the loop) and puts it in force. Throws naming the file.
  boost::asio::awaitable<void> save_bans(BanList next);
  nlohmann::ordered_json control_status() const;
  nlohmann::ordered_json control_sessions() const;
  std::string control_kick(const ControlRequest& request);
  boost::asio::awaitable<std::string> control_ban(ControlRequest request);
  boost::asio::awaitable<std::string> control_unban(ControlRequest request);
  std::string control_bans() const;
  // The bans whose time has not run out (expired ones stay in the list until the next change).
  std::vector<Ban> bans_in_force() const;
  std::string control_notice(const ControlRequest& request);
  ControlSocket::Reply control_drain();
  // Closes (code 12) every session the ban covers; returns how many.
  std::size_t end_banned_sessions(const Ban& ban);
  std::string status_text() const;

  boost::asio::io_context& io_;
  ServerContext& ctx_;
  std::string config_path_;
  config::Environment env_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer stats_timer_;
  Notifier& notifier_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer status_timer_;
  RefusalLog refusals_;
  boost::asio::steady_timer refusal_timer_;
  std::unique_ptr<MetricsEndpoint> metrics_;  // null unless the config asks for it
  std::unique_ptr<ControlSocket> control_;    // null unless the config asks for it
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  boost::asio::steady_timer lag_timer_;
  boost::asio::steady_timer history_timer_;
  bool refusal_intervals_running_ = false;
  bool saving_bans_ = false;  // a ban change is being written (save_bans)
  bool last_reload_failed_ = false;
  bool shutting_down_ = false;
  std::uint64_t next_session_id_ = 0;
  TransportFactory make_transport_;
};

}  // namespace parley::server
