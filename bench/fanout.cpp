// fanout: N clients in R rooms (client i in room i mod R); the first P clients publish.
//
// Every message carries "<publisher> <seq> <send_ns>", so a receiver knows its latency and
// which message it completes. A message is complete once every other member of its room has
// it. In the window phase a publisher sends whenever fewer than W of its messages are
// incomplete (closed loop: no member can fall far behind, so no server limit trips); in a
// paced phase the publishers together offer `rate` messages per second, round-robin, and
// a publisher whose window is full skips its turn (counted as "blocked").
//
// Losses: after the last phase, publishing stops and the run waits (up to drain_s) for every
// message to complete; what is still missing then is lost.
//
// Sampling: reading every delivery would make the generator, not the server, the limit. While
// measuring, a member reads one room message in read_one_in and counts the rest from their
// frames. That is sound here because each room has at most one publisher (client i publishes
// into room i, and publishers <= rooms), whose messages reach a member in seq order: an unread
// delivery is the next seq of the member's room's publisher. Each message read checks that
// inference (a lost, duplicated or reordered delivery since the last one read shows up as
// out_of_order), and the drain reads every record, so the final tally is exact. Latency is
// measured on the messages read.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>

#include "members.hpp"
#include "scenarios.hpp"
#include "wire.hpp"

namespace parley::bench {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class Fanout final : public Members {
 public:
  Fanout(System& system, Target target, FanoutParams params)
      : Members(system, target), p_(std::move(params)) {}

  awaitable<nlohmann::json> run();

  void on_message(Connection& connection, std::string_view text) override;
  void on_unread_message(Connection& connection) override;

 private:
  enum class Mode { idle, window, paced };

  struct Publisher {
    std::size_t connection = 0;
    std::uint32_t expected = 0;  // deliveries per message: the other members of its room
    std::uint64_t sent = 0;
    std::uint64_t completed = 0;           // messages [0, completed) are complete
    std::vector<std::uint32_t> remaining;  // per in-flight seq (seq mod W): deliveries missing
    std::uint64_t in_flight() const { return sent - completed; }
  };

  struct Phase {
    std::string mode;
    double rate = 0;
    Histogram latency;
    std::uint64_t delivered = 0;
    std::uint64_t published = 0;
    std::uint64_t blocked = 0;
  };

  awaitable<bool> connect_all();
  awaitable<nlohmann::json> measure(Phase& phase);
  awaitable<void> pace(double rate, std::uint64_t generation);
  void publish(std::uint32_t index);
  void fill_window(std::uint32_t index);
  // One delivery of publisher `index`'s message `seq` (to a member other than the publisher).
  void delivered(std::uint32_t index, std::uint64_t seq, std::optional<std::uint64_t> send_ns);

  FanoutParams p_;
  std::vector<std::size_t> room_size_;
  std::vector<Publisher> publishers_;
  std::string text_;

  Mode mode_ = Mode::idle;
  Phase* phase_ = nullptr;  // set while measuring
  std::uint64_t expected_total_ = 0;
  std::uint64_t received_total_ = 0;
  std::uint64_t self_echo_ = 0;
  std::uint64_t unexpected_ = 0;
  std::vector<std::uint64_t> next_seq_;  // per connection: the next seq its room's publisher owes
  std::uint64_t unread_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::size_t next_paced_ = 0;
  std::uint64_t pacer_generation_ = 0;  // a pacer runs while its generation is current
};

void Fanout::publish(std::uint32_t index) {
  Publisher& pub = publishers_[index];
  make_text(Stamp{index, pub.sent, now_ns()}, p_.size, text_);
  pub.remaining[pub.sent % p_.window] = pub.expected;
  ++pub.sent;
  if (pub.expected == 0) ++pub.completed;  // alone in its room: nobody to deliver to
  expected_total_ += pub.expected;
  if (phase_) ++phase_->published;
  connections_[pub.connection]->publish(0, text_);
}

void Fanout::fill_window(std::uint32_t index) {
  while (publishers_[index].in_flight() < p_.window && error_.empty())
    publish(index);
}

void Fanout::on_message(Connection& connection, std::string_view text) {
  const auto stamp = parse_text(text);
  if (!stamp || stamp->publisher >= publishers_.size()) {
    ++unexpected_;
    return;
  }
  Publisher& pub = publishers_[stamp->publisher];
  if (connection.index() == pub.connection) {
    ++self_echo_;  // MQTT 3.1.1 delivers to a subscribed publisher: not a delivery to another
                   // member
    return;
  }
  // With one publisher per room, a member gets its room's messages in seq order.
  std::uint64_t& next = next_seq_[connection.index()];
  if (stamp->seq != next && p_.publishers <= p_.rooms) ++out_of_order_;
  next = stamp->seq + 1;
  delivered(stamp->publisher, stamp->seq, stamp->send_ns);
}

void Fanout::on_unread_message(Connection& connection) {
  const std::size_t room = connection.index() % p_.rooms;
  if (room >= publishers_.size() || connection.index() == publishers_[room].connection) {
    ++unexpected_;  // nobody publishes into this member's room
    return;
  }
  ++unread_;
  delivered(static_cast<std::uint32_t>(room), next_seq_[connection.index()]++, std::nullopt);
}

void Fanout::delivered(std::uint32_t index, std::uint64_t seq,
                       std::optional<std::uint64_t> send_ns) {
  Publisher& pub = publishers_[index];
  if (seq < pub.completed || seq >= pub.sent) {
    ++unexpected_;
    return;
  }
  std::uint32_t& remaining = pub.remaining[seq % p_.window];
  if (remaining == 0) {
    ++unexpected_;  // a duplicate
    return;
  }
  ++received_total_;
  if (phase_) {
    ++phase_->delivered;
    if (send_ns) phase_->latency.record(now_ns() - *send_ns);
  }
  if (--remaining != 0) return;
  while (pub.completed < pub.sent && pub.remaining[pub.completed % p_.window] == 0)
    ++pub.completed;
  if (mode_ == Mode::window) fill_window(index);
}

awaitable<void> Fanout::pace(double rate, std::uint64_t generation) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  const auto start = Clock::now();
  std::uint64_t offered = 0;
  while (mode_ == Mode::paced && generation == pacer_generation_ && error_.empty()) {
    const auto now = Clock::now();
    const double due = rate * std::chrono::duration<double>(now - start).count();
    while (static_cast<double>(offered) < due) {
      const auto index = static_cast<std::uint32_t>(next_paced_++ % publishers_.size());
      if (publishers_[index].in_flight() < p_.window) {
        publish(index);
      } else if (phase_) {
        ++phase_->blocked;
      }
      ++offered;
    }
    tick.expires_after(std::chrono::milliseconds(1));
    co_await tick.async_wait(use_tuple);
  }
}

awaitable<bool> Fanout::connect_all() {
  next_seq_.assign(p_.clients, 0);
  room_size_.assign(p_.rooms, 0);
  for (std::size_t i = 0; i < p_.clients; ++i)
    ++room_size_[i % p_.rooms];
  for (std::size_t i = 0; i < p_.publishers; ++i) {
    Publisher pub;
    pub.connection = i;
    pub.expected = static_cast<std::uint32_t>(room_size_[i % p_.rooms] - 1);
    pub.remaining.assign(p_.window, 0);
    publishers_.push_back(std::move(pub));
  }
  co_return co_await connect_members(p_.clients, p_.rooms, p_.connect_parallel,
                                     Clock::now() + seconds(p_.ready_timeout_s));
}

awaitable<nlohmann::json> Fanout::measure(Phase& phase) {
  co_await pause(seconds(p_.warmup_s));
  const UsageMark begin = mark_usage(target_);
  phase_ = &phase;
  co_await pause(seconds(p_.duration_s));
  phase_ = nullptr;
  const UsageMark end = mark_usage(target_);
  const double secs = std::chrono::duration<double>(end.at - begin.at).count();
  double fanout = 0;
  for (const auto& pub : publishers_)
    fanout += pub.expected;
  fanout /= static_cast<double>(publishers_.size());
  nlohmann::json j = usage_between(begin, end);
  j["mode"] = phase.mode;
  if (phase.mode == "paced") {
    j["offered_published_per_s"] = phase.rate;
    j["offered_delivered_per_s"] = phase.rate * fanout;
  }
  j["published_per_s"] = static_cast<double>(phase.published) / secs;
  j["delivered_per_s"] = static_cast<double>(phase.delivered) / secs;
  j["blocked"] = phase.blocked;
  j["latency_us"] = latency_json(phase.latency);
  std::cerr << system_.name() << " fanout " << phase.mode;
  if (phase.mode == "paced") std::cerr << " " << phase.rate << "/s";
  std::cerr << ": " << j["delivered_per_s"].get<double>() << " delivered/s, p99 "
            << j["latency_us"]["p99"].get<double>() << " us, generator "
            << j["generator"]["cpu_pct"].get<double>() << "% cpu" << std::endl;
  co_return j;
}

awaitable<nlohmann::json> Fanout::run() {
  nlohmann::json result;
  result["scenario"] = "fanout";
  result["system"] = system_.name();
  result["params"] = {{"clients", p_.clients},       {"rooms", p_.rooms},
                      {"publishers", p_.publishers}, {"size", p_.size},
                      {"window", p_.window},         {"warmup_s", p_.warmup_s},
                      {"duration_s", p_.duration_s}};
  if (p_.publishers == 0 || p_.publishers > p_.clients || p_.rooms == 0 || p_.rooms > p_.clients ||
      p_.window == 0) {
    result["error"] = "need 0 < publishers <= clients, 0 < rooms <= clients, window > 0";
    co_return result;
  }
  const auto connect_start = Clock::now();
  const bool connected = co_await connect_all();
  result["connect_s"] = std::chrono::duration<double>(Clock::now() - connect_start).count();
  if (!connected) {
    result["error"] = error_.empty() ? "clients not ready in time (" + std::to_string(ready_) +
                                           " of " + std::to_string(p_.clients) + ")"
                                     : error_;
    co_return result;
  }
  std::cerr << system_.name() << ": " << p_.clients << " clients ready in "
            << result["connect_s"].get<double>() << " s" << std::endl;

  // Sampling needs one publisher per room, and messages large enough that no other event has
  // their record size.
  const bool can_sample = p_.publishers <= p_.rooms && p_.size >= 64;
  read_one_in_ = can_sample ? p_.read_one_in : 1;
  result["read_one_in"] = read_one_in_;

  nlohmann::json phases = nlohmann::json::array();
  std::vector<std::unique_ptr<Phase>> kept;
  if (p_.window_phase && error_.empty()) {
    kept.push_back(std::make_unique<Phase>());
    kept.back()->mode = "window";
    mode_ = Mode::window;
    for (std::uint32_t i = 0; i < publishers_.size(); ++i)
      fill_window(i);
    nlohmann::json phase = co_await measure(*kept.back());
    phases.push_back(std::move(phase));
  }
  std::vector<double> rates = p_.rates;
  if (!p_.sweep.empty() && !phases.empty()) {
    const double capacity = phases.front()["published_per_s"].get<double>();
    for (const double fraction : p_.sweep)
      rates.push_back(fraction * capacity);
  }
  for (const double rate : rates) {
    if (!error_.empty()) break;
    kept.push_back(std::make_unique<Phase>());
    kept.back()->mode = "paced";
    kept.back()->rate = rate;
    mode_ = Mode::paced;
    const auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, pace(rate, ++pacer_generation_), asio::detached);
    nlohmann::json phase = co_await measure(*kept.back());
    phases.push_back(std::move(phase));
  }
  mode_ = Mode::idle;
  ++pacer_generation_;
  co_await pause(std::chrono::milliseconds(5));  // let the pacer see the mode change

  // Drain: every message sent must reach every other member of its room, every record read.
  read_one_in_ = 1;
  const auto drain_deadline = Clock::now() + seconds(p_.drain_s);
  auto incomplete = [this] {
    std::uint64_t n = 0;
    for (const auto& pub : publishers_)
      n += pub.in_flight();
    return n;
  };
  while (incomplete() > 0 && error_.empty() && Clock::now() < drain_deadline)
    co_await pause(std::chrono::milliseconds(10));

  result["phases"] = phases;
  result["expected"] = expected_total_;
  result["received"] = received_total_;
  result["losses"] = expected_total_ - received_total_;
  result["self_echo_discarded"] = self_echo_;
  result["unexpected"] = unexpected_ + unread_unexpected_;
  result["unread"] = unread_;
  result["out_of_order"] = out_of_order_;
  result["closed"] = closed_;
  if (!error_.empty()) result["error"] = error_;
  close_all();
  co_return result;
}

}  // namespace

awaitable<nlohmann::json> run_fanout(System& system, Target target, FanoutParams params) {
  Fanout fanout(system, target, std::move(params));
  nlohmann::json result = co_await fanout.run();
  // Closing sockets completes the connections' pending waits; give them a turn to finish.
  co_await pause(std::chrono::milliseconds(50));
  co_return result;
}

}  // namespace parley::bench
