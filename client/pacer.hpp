// Pipe mode paces itself from the welcome's rate and burst, so that a long pipe is never
// rate limited. Pure code over times the caller passes in.
#pragma once

#include <algorithm>
#include <chrono>

#include "parley/event.hpp"
#include "parley/token_bucket.hpp"

namespace parley::client {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;

  // Below the server's figures on purpose: the server measures arrival times, which network and
  // scheduling jitter bunch up, so we keep half the burst and a tenth of the rate in reserve.
  // Without the figures (older servers) one request per second is safe anywhere.
  static Pacer for_welcome(const evt::Welcome& welcome, Clock::time_point now) {
    const double rate = welcome.rate && *welcome.rate > 0 ? *welcome.rate * 0.9 : 1.0;
    const double burst =
        welcome.burst ? std::max(1.0, static_cast<double>(*welcome.burst / 2)) : 1.0;
    return Pacer(rate, burst, now);
  }

  Pacer(double rate, double burst, Clock::time_point now) : bucket_(rate, burst, now) {}

  // How long to wait before the next request may go; zero when it may go now.
  Clock::duration delay(Clock::time_point now) const { return bucket_.time_until(now); }
  // Spends one request's token (call when delay() is zero).
  void spend(Clock::time_point now) { bucket_.try_take(now); }

 private:
  TokenBucket bucket_;
};

}  // namespace parley::client
