// soak: N clients in R rooms (client slot i in room i mod R) for a long time, each sending one
// message every few seconds, while the population turns over: every second a fraction of the
// clients quits (a close record, or the TCP connection simply dropped, in turn) and a new
// client takes each one's slot (a fresh handshake, a join, and chat). Every `interval` seconds
// one sample: the server's RSS and open descriptors, and since the previous sample the
// deliveries and their latency, connects, disconnects and errors.
//
// The verdict is flatness: (max - min) / max of RSS and of descriptors over the last half of
// the run. Per-session state that outlives its session, a descriptor not closed on one of the
// two ways out, or a per-message allocation never given back grows with the turnover (at the
// defaults the population is replaced six times over), while a steady server settles once its
// allocator's high-water mark is reached, in the first half.
//
// Deliveries are not matched one by one (a member that quits takes the messages still in
// flight to it, a member that joins may get one sent before the generator saw its join
// acknowledged), so `expected` is an estimate: the ready members of the room, other than the
// sender, when a message is sent. Latency is measured on every delivery (all are read).
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <random>

#include "members.hpp"
#include "parley/concat.hpp"
#include "scenarios.hpp"
#include "wire.hpp"

namespace parley::bench {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// The first errors are kept word for word; the rest are only counted.
constexpr std::size_t kKeepErrors = 20;
// A slot whose client was refused or lost gets a new one after this long, so that a server
// that refuses everyone is not hammered in a tight loop.
constexpr auto kRetryDelay = std::chrono::seconds(1);
// Quitting picks a random slot; one not established (its replacement is still connecting)
// is passed over, up to this many tries per quit.
constexpr int kPickTries = 16;

class Soak final : public Members {
 public:
  Soak(System& system, Target target, SoakParams params, const asio::any_io_executor& executor)
      : Members(system, target),
        p_(std::move(params)),
        random_(p_.seed),
        executor_(executor),
        pacers_done_(executor) {}

  awaitable<nlohmann::json> run();

  void on_ready(Connection& connection) override;
  void on_message(Connection& connection, std::string_view text) override;
  void on_closed(Connection& connection, std::string_view why) override;

 private:
  // What happened since the previous sample.
  struct Counts {
    Histogram latency;
    std::uint64_t published = 0;
    std::uint64_t delivered = 0;
    std::uint64_t expected = 0;
    std::uint64_t skipped = 0;  // a chat turn that fell on a client not established
    std::uint64_t connects = 0;
    std::uint64_t quits_close = 0;
    std::uint64_t quits_drop = 0;
    std::uint64_t refused = 0;  // closed before it was established
    std::uint64_t lost = 0;     // closed after it was established, not by us
    std::uint64_t unexpected = 0;
    void add(const Counts& o);
  };

  bool current(const Connection& connection) const {
    return connection.index() < connections_.size() &&
           connections_[connection.index()].get() == &connection;
  }
  std::size_t room_of(std::size_t slot) const { return slot % p_.rooms; }
  void error(std::string what);
  void replace(std::size_t slot);
  void quit(std::size_t slot);
  void publish(std::size_t slot);
  awaitable<void> chat();
  awaitable<void> churn();
  void pacer_ended();
  // One sample; false when the server is gone.
  bool sample(double elapsed, const UsageMark& since, UsageMark& now, nlohmann::json& line);
  void print(const nlohmann::json& line);

  SoakParams p_;
  std::mt19937 random_;
  asio::any_io_executor executor_;
  bool soaking_ = false;  // the ramp is over: closes are counted, not fatal
  bool running_ = false;  // chat, churn and retries go on while this holds
  std::size_t established_ = 0;
  // Slots waiting for a new client after a refusal or a loss, oldest first (churn() opens them).
  std::deque<std::pair<Clock::time_point, std::size_t>> retries_;
  int pacers_ = 0;                  // chat() and churn() while they run
  asio::steady_timer pacers_done_;  // cancelled when the last pacer ends
  std::vector<std::size_t> room_ready_;
  std::vector<std::uint32_t> generation_;  // per slot: makes every client's name unique
  std::uint64_t seq_ = 0;
  std::uint64_t self_echo_ = 0;
  bool drop_next_ = false;  // quits alternate between a close record and a dropped connection
  std::string text_;
  Counts now_;
  Counts total_;
  Histogram run_latency_;
  std::vector<std::string> errors_;
  std::uint64_t error_count_ = 0;
  std::ofstream jsonl_;
};

void Soak::Counts::add(const Counts& o) {
  published += o.published;
  delivered += o.delivered;
  expected += o.expected;
  skipped += o.skipped;
  connects += o.connects;
  quits_close += o.quits_close;
  quits_drop += o.quits_drop;
  refused += o.refused;
  lost += o.lost;
  unexpected += o.unexpected;
}

void Soak::error(std::string what) {
  ++error_count_;
  if (errors_.size() < kKeepErrors) errors_.push_back(std::move(what));
}

void Soak::on_ready(Connection& connection) {
  Members::on_ready(connection);
  if (!current(connection)) return;
  ++established_;
  ++room_ready_[room_of(connection.index())];
  if (soaking_) ++now_.connects;
}

void Soak::on_closed(Connection& connection, std::string_view why) {
  // Before the soak proper, any close fails the ramp (Members::connect_members stops).
  if (!soaking_) Members::on_closed(connection, why);
  if (!current(connection)) return;
  const std::size_t slot = connection.index();
  if (connection.ready()) {
    --established_;
    --room_ready_[room_of(slot)];
    ++now_.lost;
    error("client " + std::to_string(slot) + " lost: " + std::string(why));
  } else {
    ++now_.refused;
    error("client " + std::to_string(slot) + " refused: " + std::string(why));
  }
  if (running_) retries_.emplace_back(Clock::now() + kRetryDelay, slot);
}

void Soak::pacer_ended() {
  if (--pacers_ == 0) pacers_done_.cancel();
}

void Soak::replace(std::size_t slot) {
  const std::string name =
      concat("s", std::to_string(slot), "g", std::to_string(++generation_[slot]));
  connections_[slot] = open(executor_, slot, room_of(slot), name);
}

void Soak::quit(std::size_t slot) {
  Connection& connection = *connections_[slot];
  --established_;
  --room_ready_[room_of(slot)];
  if (drop_next_) {
    connection.drop();
    ++now_.quits_drop;
  } else {
    connection.close();
    ++now_.quits_close;
  }
  drop_next_ = !drop_next_;
  replace(slot);
}

void Soak::publish(std::size_t slot) {
  make_text(Stamp{static_cast<std::uint32_t>(slot), seq_++, now_ns()}, p_.size, text_);
  ++now_.published;
  now_.expected += room_ready_[room_of(slot)] - 1;  // the sender is one of the ready members
  connections_[slot]->publish(0, text_);
}

void Soak::on_message(Connection& connection, std::string_view text) {
  const auto stamp = parse_text(text);
  if (!stamp || stamp->publisher >= p_.clients) {
    ++now_.unexpected;
    return;
  }
  if (stamp->publisher == connection.index()) {
    ++self_echo_;  // MQTT 3.1.1 delivers to a subscribed publisher
    return;
  }
  ++now_.delivered;
  const std::int64_t latency = now_ns() - static_cast<std::int64_t>(stamp->send_ns);
  now_.latency.record(latency);
  run_latency_.record(latency);
}

// Every client sends one message per message_interval_s: the slots take turns, round-robin, at
// clients / message_interval_s messages per second in all.
awaitable<void> Soak::chat() {
  asio::steady_timer tick(executor_);
  const double rate = static_cast<double>(p_.clients) / p_.message_interval_s;
  const auto start = Clock::now();
  std::uint64_t offered = 0;
  std::size_t next = 0;
  while (running_) {
    const double due = rate * std::chrono::duration<double>(Clock::now() - start).count();
    for (; static_cast<double>(offered) < due; ++offered) {
      const std::size_t slot = next++ % p_.clients;
      const auto& connection = connections_[slot];
      if (connection->ready() && !connection->closed()) {
        publish(slot);
      } else {
        ++now_.skipped;
      }
    }
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(use_tuple);
  }
  pacer_ended();
}

// clients * churn_per_s quits per second, spread over the second in 100 ms steps; each picks a
// random established client, and a new client takes its slot at once. Slots whose client was
// refused or lost get their new client here too, once their retry delay is over.
awaitable<void> Soak::churn() {
  asio::steady_timer tick(executor_);
  const double rate = static_cast<double>(p_.clients) * p_.churn_per_s;
  std::uniform_int_distribution<std::size_t> pick(0, p_.clients - 1);
  const auto start = Clock::now();
  std::uint64_t done = 0;
  while (running_) {
    const double due = rate * std::chrono::duration<double>(Clock::now() - start).count();
    for (; static_cast<double>(done) < due; ++done) {
      for (int tries = 0; tries < kPickTries; ++tries) {
        const std::size_t slot = pick(random_);
        const auto& connection = connections_[slot];
        if (connection->ready() && !connection->closed()) {
          quit(slot);
          break;
        }
      }
    }
    const auto now = Clock::now();
    while (!retries_.empty() && retries_.front().first <= now) {
      replace(retries_.front().second);
      retries_.pop_front();
    }
    tick.expires_after(std::chrono::milliseconds(100));
    co_await tick.async_wait(use_tuple);
  }
  pacer_ended();
}

bool Soak::sample(double elapsed, const UsageMark& since, UsageMark& now, nlohmann::json& line) {
  now = mark_usage(target_);
  const auto fds = count_descriptors(target_.server_pid);
  if (!now.server.ok || !fds) return false;
  const nlohmann::json usage = usage_between(since, now);
  line = {{"elapsed_s", elapsed},
          {"clients", established_},
          {"connecting", p_.clients - established_ - retries_.size()},
          {"retrying", retries_.size()},
          {"server_rss_kib", now.server.rss_bytes / 1024},
          {"server_hwm_kib", now.server.hwm_bytes / 1024},
          {"server_fds", *fds},
          {"published", now_.published},
          {"delivered", now_.delivered},
          {"expected", now_.expected},
          {"skipped", now_.skipped},
          {"latency_us", latency_json(now_.latency)},
          {"connects", now_.connects},
          {"disconnects", now_.quits_close + now_.quits_drop + now_.lost},
          {"quits_close", now_.quits_close},
          {"quits_drop", now_.quits_drop},
          {"refused", now_.refused},
          {"lost", now_.lost},
          {"unexpected", now_.unexpected},
          {"generator_rss_kib", now.self.rss_bytes / 1024}};
  if (usage.contains("server")) line["server_cpu_pct"] = usage["server"]["cpu_pct"];
  line["generator_cpu_pct"] = usage["generator"]["cpu_pct"];
  total_.add(now_);
  now_ = Counts{};
  return true;
}

void Soak::print(const nlohmann::json& line) {
  const auto& latency = line["latency_us"];
  char row[256];
  std::snprintf(row, sizeof row,
                "%7.0f %8zu %10llu %6zu %9llu %10llu %7.2f %7.2f %8llu %8llu %6llu",
                line["elapsed_s"].get<double>(), line["clients"].get<std::size_t>(),
                static_cast<unsigned long long>(line["server_rss_kib"].get<std::uint64_t>()),
                line["server_fds"].get<std::size_t>(),
                static_cast<unsigned long long>(line["published"].get<std::uint64_t>()),
                static_cast<unsigned long long>(line["delivered"].get<std::uint64_t>()),
                latency["p50"].get<double>() / 1000.0, latency["p99"].get<double>() / 1000.0,
                static_cast<unsigned long long>(line["connects"].get<std::uint64_t>()),
                static_cast<unsigned long long>(line["disconnects"].get<std::uint64_t>()),
                static_cast<unsigned long long>(line["refused"].get<std::uint64_t>() +
                                                line["lost"].get<std::uint64_t>()));
  std::cerr << row << std::endl;
  if (jsonl_.is_open()) jsonl_ << line.dump() << std::endl;
}

awaitable<nlohmann::json> Soak::run() {
  nlohmann::json result;
  result["scenario"] = "soak";
  result["system"] = system_.name();
  result["params"] = {{"clients", p_.clients},
                      {"rooms", p_.rooms},
                      {"size", p_.size},
                      {"message_interval_s", p_.message_interval_s},
                      {"churn_per_s", p_.churn_per_s},
                      {"duration_s", p_.duration_s},
                      {"interval_s", p_.interval_s},
                      {"flat_limit", p_.flat_limit},
                      {"seed", p_.seed}};
  if (p_.clients == 0 || p_.rooms == 0 || p_.rooms > p_.clients || p_.message_interval_s <= 0 ||
      p_.churn_per_s < 0 || p_.churn_per_s > 1 || p_.interval_s <= 0 ||
      p_.duration_s < p_.interval_s) {
    result["error"] =
        "need 0 < rooms <= clients, message interval > 0, churn in [0, 1], 0 < interval <= "
        "duration";
    co_return result;
  }
  if (target_.server_pid <= 0 || !count_descriptors(target_.server_pid)) {
    result["error"] = "need --server-pid of a running server whose /proc/PID/fd can be read";
    co_return result;
  }
  if (!p_.jsonl.empty()) {
    jsonl_.open(p_.jsonl, std::ios::trunc);
    if (!jsonl_) {
      result["error"] = "cannot write " + p_.jsonl;
      co_return result;
    }
  }
  room_ready_.assign(p_.rooms, 0);
  generation_.assign(p_.clients, 0);

  const auto connect_start = Clock::now();
  const bool connected = co_await connect_members(p_.clients, p_.rooms, p_.connect_parallel,
                                                  connect_start + seconds(p_.ready_timeout_s));
  result["connect_s"] = std::chrono::duration<double>(Clock::now() - connect_start).count();
  if (!connected) {
    result["error"] = error_.empty() ? "clients not ready in time (" + std::to_string(ready_) +
                                           " of " + std::to_string(p_.clients) + ")"
                                     : error_;
    close_all();
    co_await pause(std::chrono::milliseconds(50));
    co_return result;
  }
  std::cerr << system_.name() << " soak: " << p_.clients << " clients in " << p_.rooms
            << " rooms ready in " << result["connect_s"].get<double>() << " s; one message per "
            << p_.message_interval_s << " s each, " << 100 * p_.churn_per_s
            << "% replaced per second, for " << p_.duration_s << " s" << std::endl;
  std::cerr << "elapsed  clients    rss_KiB    fds published  delivered  p50_ms  p99_ms connects "
               "   disc. errors"
            << std::endl;

  soaking_ = true;
  std::vector<nlohmann::json> samples;
  UsageMark mark = mark_usage(target_);
  nlohmann::json line;
  bool server_gone = !sample(0, mark, mark, line);
  if (!server_gone) {
    samples.push_back(line);
    print(line);
  }
  running_ = true;
  pacers_ = 2;
  pacers_done_.expires_at(Clock::time_point::max());
  asio::co_spawn(executor_, chat(), asio::detached);
  asio::co_spawn(executor_, churn(), asio::detached);
  // Samples at fixed instants from the start, so that a slow sample does not shift the rest.
  const auto start = mark.at;
  const auto count = static_cast<std::size_t>(p_.duration_s / p_.interval_s + 1e-9);
  asio::steady_timer timer(executor_);
  for (std::size_t k = 1; k <= count && !server_gone; ++k) {
    timer.expires_at(start + seconds(p_.interval_s * static_cast<double>(k)));
    co_await timer.async_wait(use_tuple);
    UsageMark next;
    if (!sample(std::chrono::duration<double>(Clock::now() - start).count(), mark, next, line)) {
      server_gone = true;
      break;
    }
    mark = next;
    samples.push_back(line);
    print(line);
  }
  running_ = false;
  // The pacers end at their next tick (at most 100 ms); nothing of theirs may outlive this.
  if (pacers_ > 0) co_await pacers_done_.async_wait(use_tuple);
  // What happened after the last sample (all of it when the server went away) counts too.
  total_.add(now_);

  // Flatness over the last half of the run.
  std::vector<double> rss;
  std::vector<double> fds;
  const double from = p_.duration_s / 2;
  for (const auto& s : samples) {
    if (s["elapsed_s"].get<double>() + 1e-6 < from) continue;
    rss.push_back(static_cast<double>(s["server_rss_kib"].get<std::uint64_t>()));
    fds.push_back(static_cast<double>(s["server_fds"].get<std::size_t>()));
  }
  std::vector<std::string> failures;
  nlohmann::json flat;
  flat["from_s"] = from;
  flat["samples"] = rss.size();
  flat["limit"] = p_.flat_limit;
  if (!rss.empty()) {
    const auto [rss_min, rss_max] = std::minmax_element(rss.begin(), rss.end());
    const auto [fds_min, fds_max] = std::minmax_element(fds.begin(), fds.end());
    flat["rss_min_kib"] = *rss_min;
    flat["rss_max_kib"] = *rss_max;
    flat["rss_spread"] = spread(rss);
    flat["fds_min"] = *fds_min;
    flat["fds_max"] = *fds_max;
    flat["fds_spread"] = spread(fds);
  }
  if (rss.size() < 3) {
    failures.push_back("fewer than 3 samples in the last half: cannot judge flatness");
  } else {
    if (spread(rss) >= p_.flat_limit) failures.push_back("RSS not flat");
    if (spread(fds) >= p_.flat_limit) failures.push_back("descriptors not flat");
  }
  flat["pass"] = failures.empty();
  result["flatness"] = flat;

  if (server_gone) failures.push_back("the server is gone");
  if (total_.lost > 0) failures.push_back(std::to_string(total_.lost) + " clients lost");
  if (total_.refused > 0)
    failures.push_back(std::to_string(total_.refused) + " handshakes or joins refused");
  if (total_.unexpected > 0)
    failures.push_back(std::to_string(total_.unexpected) + " unexpected messages");

  result["samples"] = samples.size();
  result["published"] = total_.published;
  result["delivered"] = total_.delivered;
  result["expected"] = total_.expected;
  result["skipped"] = total_.skipped;
  result["latency_us"] = latency_json(run_latency_);
  result["connects"] = total_.connects;
  result["quits_close"] = total_.quits_close;
  result["quits_drop"] = total_.quits_drop;
  result["refused"] = total_.refused;
  result["lost"] = total_.lost;
  result["unexpected"] = total_.unexpected;
  result["self_echo_discarded"] = self_echo_;
  result["clients_at_end"] = established_;
  result["errors"] = errors_;
  result["error_count"] = error_count_;
  if (!failures.empty()) {
    std::string joined;
    for (const auto& f : failures)
      joined += (joined.empty() ? "" : "; ") + f;
    result["error"] = joined;
  }

  char verdict[256];
  std::snprintf(verdict, sizeof verdict,
                "flatness over the last %.0f s (%zu samples): RSS %.2f%%, descriptors %.2f%% "
                "(limit %.2f%%): %s",
                p_.duration_s - from, rss.size(), 100 * flat.value("rss_spread", 0.0),
                100 * flat.value("fds_spread", 0.0), 100 * p_.flat_limit,
                flat["pass"].get<bool>() ? "PASS" : "FAIL");
  std::cerr << verdict << std::endl;
  if (!failures.empty())
    std::cerr << "soak: FAIL: " << result["error"].get<std::string>() << std::endl;

  close_all();
  // Closing sockets completes the connections' pending waits; give them a turn to finish.
  co_await pause(std::chrono::milliseconds(50));
  co_return result;
}

}  // namespace

awaitable<nlohmann::json> run_soak(System& system, Target target, SoakParams params) {
  Soak soak(system, target, std::move(params), co_await asio::this_coro::executor);
  nlohmann::json result = co_await soak.run();
  co_return result;
}

}  // namespace parley::bench
