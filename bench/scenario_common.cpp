#include "scenarios.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace parley::bench {

boost::asio::awaitable<void> pause(Clock::duration d) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

UsageMark mark_usage(const Target& target) {
  UsageMark m;
  m.at = Clock::now();
  if (target.server_pid > 0) m.server = sample_process(target.server_pid);
  m.self_cpu_s = self_cpu_seconds();
  m.self = sample_process(::getpid());
  if (target.server_pid > 0)
    m.server_core_busy_s = cpu_busy_seconds(first_cpu_of(target.server_pid));
  m.self_core_busy_s = cpu_busy_seconds(first_cpu_of(0));
  return m;
}

nlohmann::json usage_between(const UsageMark& a, const UsageMark& b) {
  const double wall = std::chrono::duration<double>(b.at - a.at).count();
  nlohmann::json j;
  j["seconds"] = wall;
  if (a.server.ok && b.server.ok && wall > 0) {
    j["server"] = {
        {"cpu_pct", 100.0 * (b.server.cpu_s - a.server.cpu_s) / wall},
        {"runqueue_wait_pct", 100.0 * (b.server.runqueue_wait_s - a.server.runqueue_wait_s) / wall},
        {"rss_kib", b.server.rss_bytes / 1024},
        {"hwm_kib", b.server.hwm_bytes / 1024}};
    j["server"]["core_other_pct"] = std::max(
        0.0,
        100.0 *
            ((b.server_core_busy_s - a.server_core_busy_s) - (b.server.cpu_s - a.server.cpu_s)) /
            wall);
  }
  j["generator"] = {{"cpu_pct", wall > 0 ? 100.0 * (b.self_cpu_s - a.self_cpu_s) / wall : 0.0}};
  if (a.self.ok && b.self.ok && wall > 0)
    j["generator"]["runqueue_wait_pct"] =
        100.0 * (b.self.runqueue_wait_s - a.self.runqueue_wait_s) / wall;
  if (wall > 0)
    j["generator"]["core_other_pct"] = std::max(
        0.0,
        100.0 * ((b.self_core_busy_s - a.self_core_busy_s) - (b.self_cpu_s - a.self_cpu_s)) / wall);
  return j;
}

nlohmann::json latency_json(const Histogram& h) {
  auto us = [](std::int64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return {{"samples", h.count()},
          {"p50", us(h.percentile(0.50))},
          {"p99", us(h.percentile(0.99))},
          {"p999", us(h.percentile(0.999))},
          {"max", us(h.max())},
          {"mean", h.mean() / 1000.0}};
}

}  // namespace parley::bench
