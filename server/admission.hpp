// Admission control, decided before any RSA work (PROTOCOL.md 4): new
// handshakes per source (an IPv4 address, an IPv6 /64) and a global cap on
// handshakes in progress. Pure: the time is passed in.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>

#include "parley/token_bucket.hpp"

namespace parley::server {

using Clock = std::chrono::steady_clock;

struct AdmissionLimits {
  double per_source_rate = 20;
  double per_source_burst = 40;
  std::size_t max_pending = 256;
};

// "v4:192.0.2.1", or "v6:2001:db8:1:2::/64"; an IPv4-mapped IPv6 address is its IPv4 address.
std::string source_key(const boost::asio::ip::address& address);

class Admission {
 public:
  explicit Admission(AdmissionLimits limits, std::size_t max_tracked_sources = 65536);

  enum class Verdict { admitted, source_rate, too_many_pending };
  // After `admitted` the caller calls handshake_finished() exactly once when that handshake ends.
  Verdict admit(const boost::asio::ip::address& source, Clock::time_point now);
  void handshake_finished();

  std::size_t pending() const { return pending_; }
  std::size_t tracked_sources() const { return buckets_.size(); }
  void reconfigure(AdmissionLimits limits);

 private:
  // Forgets sources whose bucket is full again; they would start full anyway.
  void forget_idle(Clock::time_point now);

  AdmissionLimits limits_;
  std::size_t max_tracked_;
  std::size_t pending_ = 0;
  std::unordered_map<std::string, TokenBucket> buckets_;
};

// One handshake's place among those in progress: taken over from an `admitted` verdict and given
// back when destroyed, however the handshake ends.
class AdmissionSlot {
 public:
  AdmissionSlot() = default;
  explicit AdmissionSlot(Admission& admitted) : admission_(&admitted) {}
  AdmissionSlot(AdmissionSlot&& other) noexcept
      : admission_(std::exchange(other.admission_, nullptr)) {}
  AdmissionSlot& operator=(AdmissionSlot&& other) noexcept {
    if (this != &other) {
      release();
      admission_ = std::exchange(other.admission_, nullptr);
    }
    return *this;
  }
  AdmissionSlot(const AdmissionSlot&) = delete;
  AdmissionSlot& operator=(const AdmissionSlot&) = delete;
  ~AdmissionSlot() { release(); }

  void release() {
    if (admission_ != nullptr) std::exchange(admission_, nullptr)->handshake_finished();
  }

 private:
  Admission* admission_ = nullptr;
};

}  // namespace parley::server
