// The scenarios of the load generator. Each runs on the caller's io_context (one
// thread) and returns its result as one JSON object.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapter.hpp"
#include "stats.hpp"

namespace parley::bench {

using Clock = std::chrono::steady_clock;

// Waits on the caller's executor (every scenario's timing is a sequence of these).
boost::asio::awaitable<void> pause(Clock::duration d);
Clock::duration seconds(double s);

struct Target {
  boost::asio::ip::tcp::endpoint endpoint;
  pid_t server_pid = 0;  // 0: no server accounting
};

// CPU and memory at one instant, for the server (from /proc) and for the generator itself.
struct UsageMark {
  Clock::time_point at;
  ProcSample server;
  double self_cpu_s = 0;
  ProcSample self;                // the generator's own /proc view (for its run-queue wait)
  double server_core_busy_s = 0;  // the busy time of the cores each runs on (/proc/stat)
  double self_core_busy_s = 0;
};
UsageMark mark_usage(const Target& target);
// server.cpu_pct, server.rss_kib, generator.cpu_pct over [a, b] (100 = one core).
nlohmann::json usage_between(const UsageMark& a, const UsageMark& b);
nlohmann::json latency_json(const Histogram& h);  // microseconds
std::int64_t now_ns();

struct FanoutParams {
  std::size_t clients = 100;
  std::size_t rooms = 10;
  std::size_t publishers = 10;
  std::size_t size = 128;    // bytes of text per message
  std::size_t window = 4;    // messages a publisher may have undelivered to some member
  bool window_phase = true;  // a closed-loop phase "as fast as the window allows"
  // Then one paced phase per rate (published messages per second, all publishers together).
  std::vector<double> rates;
  // Then one paced phase per fraction of the rate the window phase published at.
  std::vector<double> sweep;
  double warmup_s = 1;
  double duration_s = 5;
  double drain_s = 10;
  std::size_t connect_parallel = 64;
  double ready_timeout_s = 300;
  // While measuring, members read one room message in this many and count the rest from their
  // frames (where the codec can; 1: read all). The drain reads every one.
  std::uint32_t read_one_in = 16;
};

struct IdleParams {
  std::size_t clients = 1000;
  std::size_t rooms = 100;
  double settle_s = 3;
  std::size_t connect_parallel = 64;
  double ready_timeout_s = 600;
};

struct HandshakeParams {
  std::size_t concurrency = 8;
  double warmup_s = 2;
  double duration_s = 10;
};

// A long run at a steady, modest load with the population turning over, to see whether the
// server's memory and descriptors stay flat (bench/soak.sh).
struct SoakParams {
  std::size_t clients = 2000;  // held throughout; client slot i is in room i mod rooms
  std::size_t rooms = 200;
  std::size_t size = 128;         // bytes of text per message
  double message_interval_s = 5;  // each client sends one message this often
  double churn_per_s = 0.01;      // fraction of the clients replaced every second
  double duration_s = 600;        // from the moment every client is in
  double interval_s = 10;         // one sample this often
  double flat_limit = 0.02;       // (max - min) / max over the last half of the run
  std::size_t connect_parallel = 64;
  double ready_timeout_s = 300;
  std::uint32_t seed = 1;  // which clients quit
  std::string jsonl;       // a file for one JSON object per sample (empty: none)
};

boost::asio::awaitable<nlohmann::json> run_fanout(System& system, Target target,
                                                  FanoutParams params);
boost::asio::awaitable<nlohmann::json> run_idle(System& system, Target target, IdleParams params);
boost::asio::awaitable<nlohmann::json> run_handshake(System& system, Target target,
                                                     HandshakeParams params);
boost::asio::awaitable<nlohmann::json> run_soak(System& system, Target target, SoakParams params);

}  // namespace parley::bench
