// When an established session is pinged, and when its silence ends it (PROTOCOL.md 4: ping after
// idle_interval_s without a record, close with `timeout` after idle_timeout_s more). Pure: the
// time is passed in, so the rules are unit-tested without sockets or clocks.
#pragma once

#include <chrono>
#include <optional>

namespace parley::server {

class Liveness {
 public:
  using Clock = std::chrono::steady_clock;

  Liveness(Clock::duration interval, Clock::duration timeout, Clock::time_point now)
      : interval_(interval), timeout_(timeout), last_heard_(now) {}

  // When the client's last record arrived (the operator's "idle" column).
  Clock::time_point last_heard() const { return last_heard_; }
  // A record from the client: it is alive, and any ping is answered.
  void heard(Clock::time_point now) {
    last_heard_ = now;
    ping_sent_.reset();
  }

  // A reload changed the values. A session is never closed by the change itself: an outstanding
  // ping gets the whole new timeout from now to be answered, and a silence already longer than
  // the new interval gets its ping at once (then the whole new timeout).
  void reconfigure(Clock::duration interval, Clock::duration timeout, Clock::time_point now) {
    interval_ = interval;
    timeout_ = timeout;
    if (ping_sent_) ping_sent_ = now;
  }

  // When on_deadline() has something to do.
  Clock::time_point deadline() const {
    return ping_sent_ ? *ping_sent_ + timeout_ : last_heard_ + interval_;
  }

  enum class Due { nothing, ping, give_up };
  // What is due at `now` (nothing when called early). After `ping` the answer is awaited.
  Due on_deadline(Clock::time_point now) {
    if (now < deadline()) return Due::nothing;
    if (ping_sent_) return Due::give_up;
    ping_sent_ = now;
    return Due::ping;
  }

  bool ping_outstanding() const { return ping_sent_.has_value(); }

 private:
  Clock::duration interval_;
  Clock::duration timeout_;
  Clock::time_point last_heard_;
  std::optional<Clock::time_point> ping_sent_;
};

}  // namespace parley::server
