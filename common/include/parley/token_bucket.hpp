// A token bucket over a time the caller passes in (pure: no clock reads). The server limits
// clients with it; the client paces itself with the same arithmetic.
#pragma once

#include <algorithm>
#include <chrono>

namespace parley {

// Starts full with `burst` tokens and refills at `rate` per second up to `burst`.
class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double burst, std::chrono::steady_clock::time_point now)
      : rate_(rate_per_s), burst_(burst), tokens_(burst), last_(now) {}

  bool try_take(std::chrono::steady_clock::time_point now, double tokens = 1.0) {
    refill(now);
    if (tokens_ < tokens) return false;
    tokens_ -= tokens;
    return true;
  }

  // SIGHUP: new rates apply from now on; what is saved stays, up to the new burst.
  void reconfigure(double rate_per_s, double burst) {
    rate_ = rate_per_s;
    burst_ = burst;
    tokens_ = std::min(tokens_, burst_);
  }

  double available(std::chrono::steady_clock::time_point now) const {
    if (now <= last_) return tokens_;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    return std::min(burst_, tokens_ + elapsed * rate_);
  }

  // How long until `tokens` are available (zero when they are now). Clients pace with it.
  std::chrono::steady_clock::duration time_until(std::chrono::steady_clock::time_point now,
                                                 double tokens = 1.0) const {
    const double missing = tokens - available(now);
    if (missing <= 0 || rate_ <= 0) return std::chrono::steady_clock::duration::zero();
    return std::chrono::ceil<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(missing / rate_));
  }

  // True when the bucket has refilled completely: it remembers nothing worth keeping.
  bool full(std::chrono::steady_clock::time_point now) const { return available(now) >= burst_; }

 private:
  void refill(std::chrono::steady_clock::time_point now) {
    tokens_ = available(now);
    if (now > last_) last_ = now;
  }

  double rate_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace parley
