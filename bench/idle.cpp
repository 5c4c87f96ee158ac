// idle: N established sessions, each a member of one of R rooms, doing nothing. The
// server's RSS is read before the first connection and after the last one is ready (and a
// settling pause); the difference over N is the memory one idle session costs it.
#include <unistd.h>

#include <iostream>

#include "members.hpp"
#include "scenarios.hpp"

namespace parley::bench {
namespace {

using boost::asio::awaitable;

class Idle final : public Members {
 public:
  Idle(System& system, Target target, IdleParams params) : Members(system, target), p_(params) {}

  void on_message(Connection&, std::string_view) override { ++messages_; }

  awaitable<nlohmann::json> run() {
    nlohmann::json result;
    result["scenario"] = "idle";
    result["system"] = system_.name();
    result["params"] = {{"clients", p_.clients}, {"rooms", p_.rooms}, {"settle_s", p_.settle_s}};
    const ProcSample before = sample_process(target_.server_pid);
    const ProcSample self_before = sample_process(::getpid());
    const auto start = Clock::now();
    const bool connected = co_await connect_members(p_.clients, p_.rooms, p_.connect_parallel,
                                                    start + seconds(p_.ready_timeout_s));
    const double connect_s = std::chrono::duration<double>(Clock::now() - start).count();
    result["connect_s"] = connect_s;
    result["ready"] = ready_;
    if (!connected) {
      result["error"] = error_.empty() ? "clients not ready in time" : error_;
      co_return result;
    }
    std::cerr << system_.name() << ": " << ready_ << " idle sessions in " << connect_s << " s"
              << std::endl;
    co_await pause(seconds(p_.settle_s));
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
    close_all();
    co_await pause(std::chrono::milliseconds(50));
    co_return result;
  }

 private:
  IdleParams p_;
  std::uint64_t messages_ = 0;
};

}  // namespace

awaitable<nlohmann::json> run_idle(System& system, Target target, IdleParams params) {
  Idle idle(system, target, params);
  nlohmann::json result = co_await idle.run();
  co_return result;
}

}  // namespace parley::bench
