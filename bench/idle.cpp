// idle: N established sessions, each a member of one of R rooms, doing nothing. The
// server's RSS is read before the first connection and after the last one is ready (and a
// settling pause); the difference over N is the memory one idle session costs it.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>

#include "connection.hpp"
#include "scenarios.hpp"

namespace parley::bench {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

awaitable<void> pause(Clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(use_tuple);
}

class Idle final : public ConnectionOwner {
 public:
  Idle(System& system, Target target, IdleParams params)
      : system_(system), target_(target), p_(params) {}

  void on_ready(Connection&) override { ++ready_; }
  void on_message(Connection&, std::string_view) override { ++messages_; }
  void on_closed(Connection& connection, std::string_view why) override {
    ++closed_;
    if (error_.empty())
      error_ = "client " + std::to_string(connection.index()) + ": " + std::string(why);
  }

  awaitable<nlohmann::json> run() {
    const auto executor = co_await asio::this_coro::executor;
    nlohmann::json result;
    result["scenario"] = "idle";
    result["system"] = system_.name();
    result["params"] = {{"clients", p_.clients}, {"rooms", p_.rooms}, {"settle_s", p_.settle_s}};
    const ProcSample before = sample_process(target_.server_pid);
    const ProcSample self_before = sample_process(::getpid());
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(p_.ready_timeout_s));
    for (std::size_t i = 0; i < p_.clients && error_.empty(); ++i) {
      while (i - ready_ - closed_ >= p_.connect_parallel && error_.empty() &&
             Clock::now() < deadline)
        co_await pause(std::chrono::milliseconds(1));
      CodecOptions options{"b" + std::to_string(i), {system_.room_name(i % p_.rooms)}};
      auto connection =
          std::make_shared<Connection>(executor, system_.make(options), *this, i, read_buffer_);
      connections_.push_back(connection);
      Connection::spawn(connection, target_.endpoint);
    }
    while (ready_ < p_.clients && error_.empty() && Clock::now() < deadline)
      co_await pause(std::chrono::milliseconds(5));
    const double connect_s = std::chrono::duration<double>(Clock::now() - start).count();
    result["connect_s"] = connect_s;
    result["ready"] = ready_;
    if (ready_ < p_.clients) {
      result["error"] = error_.empty() ? "clients not ready in time" : error_;
      co_return result;
    }
    std::cerr << system_.name() << ": " << ready_ << " idle sessions in " << connect_s << " s"
              << std::endl;
    co_await pause(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(p_.settle_s)));
    const ProcSample after = sample_process(target_.server_pid);
    const ProcSample self_after = sample_process(::getpid());
    if (before.ok && after.ok) {
      const double delta =
          static_cast<double>(after.rss_bytes) - static_cast<double>(before.rss_bytes);
      result["server"] = {
          {"rss_before_kib", before.rss_bytes / 1024},
          {"rss_after_kib", after.rss_bytes / 1024},
          {"hwm_kib", after.hwm_bytes / 1024},
          {"rss_per_session_bytes", delta / static_cast<double>(p_.clients)},
          {"rss_per_session_kib", delta / static_cast<double>(p_.clients) / 1024.0}};
    }
    if (self_before.ok && self_after.ok) {
      const double delta =
          static_cast<double>(self_after.rss_bytes) - static_cast<double>(self_before.rss_bytes);
      result["generator"] = {
          {"rss_per_session_kib", delta / static_cast<double>(p_.clients) / 1024.0}};
    }
    result["closed"] = closed_;
    result["messages"] = messages_;
    if (!error_.empty()) result["error"] = error_;
    for (auto& c : connections_)
      c->close();
    co_await pause(std::chrono::milliseconds(50));
    co_return result;
  }

 private:
  System& system_;
  Target target_;
  IdleParams p_;
  ReadBuffer read_buffer_;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::size_t ready_ = 0;
  std::size_t closed_ = 0;
  std::uint64_t messages_ = 0;
  std::string error_;
};

}  // namespace

awaitable<nlohmann::json> run_idle(System& system, Target target, IdleParams params) {
  Idle idle(system, target, params);
  nlohmann::json result = co_await idle.run();
  co_return result;
}

}  // namespace parley::bench
