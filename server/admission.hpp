// Admission control, decided before any cryptography (PROTOCOL.md 4): new handshakes per source
// (an IPv4 address, an IPv6 /64), handshakes in progress per source and in all, and which
// connection makes room when the table is full. Pure: the time is passed in.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
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
  std::size_t max_pending_per_source = 16;
  // A connection this young is evicted only when every candidate is this young: before, its
  // byte rate says little.
  Clock::duration eviction_grace = std::chrono::seconds(1);
};

// "v4:192.0.2.1", or "v6:2001:db8:1:2::/64"; an IPv4-mapped IPv6 address is its IPv4 address.
std::string source_key(const boost::asio::ip::address& address);

class Admission {
 public:
  explicit Admission(AdmissionLimits limits, std::size_t max_tracked_sources = 65536);

  enum class Verdict { admitted, source_rate, source_pending, too_many_pending };
  struct Decision {
    Verdict verdict;
    // Admitted by making room: this handshake is no longer counted, and its connection must be
    // closed now.
    std::optional<std::uint64_t> evicted;
  };
  // `id` names the handshake in the calls below. After `admitted` the caller calls
  // handshake_finished(id) exactly once when that handshake ends (an AdmissionSlot does).
  Decision admit(std::uint64_t id, const boost::asio::ip::address& source, Clock::time_point now);
  // What the connection has sent so far, before its ClientHello: eviction ranks by it.
  void received(std::uint64_t id, std::uint64_t bytes);
  // The ClientHello is in: from now on the handshake waits for the server, and is not evicted.
  void hello_received(std::uint64_t id);
  // A ClientHello that will cost `units` ordinary handshakes (a large key) takes the units
  // beyond the one its connection took from its source's rate; false when the source has not
  // that many left (the handshake is then refused as over the source's rate).
  bool charge(std::uint64_t id, std::size_t units, Clock::time_point now);
  void handshake_finished(std::uint64_t id);

  std::size_t pending() const { return pending_.size(); }
  std::size_t pending_from(const boost::asio::ip::address& source) const;
  std::size_t tracked_sources() const { return buckets_.size(); }
  void reconfigure(AdmissionLimits limits);

 private:
  struct Pending {
    std::string source;
    Clock::time_point since;
    std::uint64_t bytes = 0;
    bool hello = false;
  };

  // Forgets sources whose bucket is full again; they would start full anyway.
  void forget_idle(Clock::time_point now);
  // The handshake still waiting for its ClientHello that has sent the least for longest (the
  // fewest bytes per second since it connected), if there is one.
  std::optional<std::uint64_t> slowest(Clock::time_point now) const;
  void remove(std::unordered_map<std::uint64_t, Pending>::iterator it);

  AdmissionLimits limits_;
  std::size_t max_tracked_;
  std::unordered_map<std::string, TokenBucket> buckets_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::unordered_map<std::string, std::size_t> pending_per_source_;
};

// One handshake's place among those in progress: taken over from an `admitted` decision and
// given back when destroyed, however the handshake ends.
class AdmissionSlot {
 public:
  AdmissionSlot() = default;
  AdmissionSlot(Admission& admitted, std::uint64_t id) : admission_(&admitted), id_(id) {}
  AdmissionSlot(AdmissionSlot&& other) noexcept
      : admission_(std::exchange(other.admission_, nullptr)), id_(other.id_) {}
  AdmissionSlot& operator=(AdmissionSlot&& other) noexcept {
    if (this != &other) {
      release();
      admission_ = std::exchange(other.admission_, nullptr);
      id_ = other.id_;
    }
    return *this;
  }
  AdmissionSlot(const AdmissionSlot&) = delete;
  AdmissionSlot& operator=(const AdmissionSlot&) = delete;
  ~AdmissionSlot() { release(); }

  void release() {
    if (admission_ != nullptr) std::exchange(admission_, nullptr)->handshake_finished(id_);
  }

 private:
  Admission* admission_ = nullptr;
  std::uint64_t id_ = 0;
};

}  // namespace parley::server
