// A session's request budget (PROTOCOL.md 4): a token bucket at the announced rate and burst,
// and the strikes, `rate_limited` replies in a row, after which the session is closed for
// flooding. Pure: the time is passed in.
#pragma once

#include <chrono>
#include <cstdint>

#include "parley/token_bucket.hpp"

namespace parley::server {

class RateGuard {
 public:
  using Clock = std::chrono::steady_clock;

  RateGuard(double rate, double burst, std::uint64_t max_strikes, Clock::time_point now)
      : bucket_(rate, burst, now), max_strikes_(max_strikes) {}

  // A reload: new rates apply from now; what is saved stays, up to the new burst.
  void reconfigure(double rate, double burst, std::uint64_t max_strikes) {
    bucket_.reconfigure(rate, burst);
    max_strikes_ = max_strikes;
  }

  enum class Verdict {
    allowed,
    first_strike,  // refused, and the first of a run: worth one log line
    refused,       // refused again
    flooding,      // refused max_strikes times in a row: close the session
  };
  Verdict take(Clock::time_point now) {
    if (bucket_.try_take(now)) {
      strikes_ = 0;
      return Verdict::allowed;
    }
    ++strikes_;
    if (strikes_ >= max_strikes_) return Verdict::flooding;
    return strikes_ == 1 ? Verdict::first_strike : Verdict::refused;
  }

 private:
  TokenBucket bucket_;
  std::uint64_t max_strikes_;
  std::uint64_t strikes_ = 0;
};

}  // namespace parley::server
