// handshake: C concurrent clients, each in a loop of connect, handshake (up to the welcome),
// close record, close. Reports completed handshakes per second and the time from the start
// of connect() to the welcome, over the measured interval only.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <iostream>

#include "connection.hpp"
#include "scenarios.hpp"

namespace parley::bench {
namespace {

namespace asio = boost::asio;
using asio::awaitable;

class Handshakes final : public ConnectionOwner {
 public:
  Handshakes(System& system, Target target, HandshakeParams params)
      : system_(system), target_(target), p_(params) {}

  void on_ready(Connection& connection) override {
    const auto slot = connection.index();
    if (measuring_) {
      latency_.record((Clock::now() - started_[slot]).count());
      ++completed_;
    }
    ++total_;
    connection.close();
    start(slot);
  }
  void on_message(Connection&, std::string_view) override {}
  void on_unread_message(Connection&) override {}
  void on_closed(Connection& connection, std::string_view why) override {
    ++failures_;
    if (first_error_.empty()) first_error_ = std::string(why);
    // Refused (busy) or broken: try again shortly rather than spin.
    asio::co_spawn(executor_, restart_later(this, connection.index()), asio::detached);
  }

  awaitable<nlohmann::json> run() {
    executor_ = co_await asio::this_coro::executor;
    nlohmann::json result;
    result["scenario"] = "handshake";
    result["system"] = system_.name();
    result["params"] = {
        {"concurrency", p_.concurrency}, {"warmup_s", p_.warmup_s}, {"duration_s", p_.duration_s}};
    slots_.resize(p_.concurrency);
    started_.resize(p_.concurrency);
    for (std::size_t i = 0; i < p_.concurrency; ++i)
      start(i);
    co_await pause(seconds(p_.warmup_s));
    const UsageMark begin = mark_usage(target_);
    measuring_ = true;
    co_await pause(seconds(p_.duration_s));
    measuring_ = false;
    const UsageMark end = mark_usage(target_);
    stopping_ = true;
    for (auto& c : slots_)
      if (c) c->close();
    const double secs = std::chrono::duration<double>(end.at - begin.at).count();
    result.update(usage_between(begin, end));
    result["handshakes_per_s"] = static_cast<double>(completed_) / secs;
    auto ms = [](std::int64_t ns) { return static_cast<double>(ns) / 1e6; };
    result["latency_ms"] = {{"samples", latency_.count()},
                            {"p50", ms(latency_.percentile(0.5))},
                            {"p99", ms(latency_.percentile(0.99))},
                            {"max", ms(latency_.max())}};
    result["failures"] = failures_;
    if (!first_error_.empty()) result["first_error"] = first_error_;
    std::cerr << system_.name() << " handshake: " << result["handshakes_per_s"].get<double>()
              << "/s, p99 " << result["latency_ms"]["p99"].get<double>() << " ms, " << failures_
              << " failures" << std::endl;
    co_await pause(std::chrono::milliseconds(100));
    co_return result;
  }

 private:
  void start(std::size_t slot) {
    if (stopping_) return;
    auto connection = std::make_shared<Connection>(executor_, system_.make(CodecOptions{}), *this,
                                                   slot, read_buffer_);
    slots_[slot] = connection;
    started_[slot] = Clock::now();
    Connection::spawn(std::move(connection), target_.endpoint);
  }

  static awaitable<void> restart_later(Handshakes* self, std::size_t slot) {
    co_await pause(std::chrono::milliseconds(20));
    self->start(slot);
  }

  System& system_;
  Target target_;
  HandshakeParams p_;
  ReadBuffer read_buffer_;
  asio::any_io_executor executor_;
  std::vector<std::shared_ptr<Connection>> slots_;
  std::vector<Clock::time_point> started_;
  Histogram latency_;
  bool measuring_ = false;
  bool stopping_ = false;
  std::uint64_t completed_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t failures_ = 0;
  std::string first_error_;
};

}  // namespace

awaitable<nlohmann::json> run_handshake(System& system, Target target, HandshakeParams params) {
  Handshakes handshakes(system, target, params);
  nlohmann::json result = co_await handshakes.run();
  co_return result;
}

}  // namespace parley::bench
