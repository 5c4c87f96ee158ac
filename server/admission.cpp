#include "admission.hpp"

#include <boost/asio/ip/address_v6.hpp>

namespace parley::server {

std::string source_key(const boost::asio::ip::address& address) {
  if (address.is_v4()) return "v4:" + address.to_v4().to_string();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return "v4:" + boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  // One host usually holds a whole /64, so that is what a "source" is for IPv6.
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return "v6:" + boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

Admission::Admission(AdmissionLimits limits, std::size_t max_tracked_sources)
    : limits_(limits), max_tracked_(max_tracked_sources) {}

void Admission::reconfigure(AdmissionLimits limits) {
  limits_ = limits;
  for (auto& [key, bucket] : buckets_)
    bucket.reconfigure(limits.per_source_rate, limits.per_source_burst);
}

void Admission::forget_idle(Clock::time_point now) {
  std::erase_if(buckets_, [now](auto& entry) { return entry.second.full(now); });
}

Admission::Verdict Admission::admit(const boost::asio::ip::address& source, Clock::time_point now) {
  if (pending_ >= limits_.max_pending) return Verdict::too_many_pending;
  const std::string key = source_key(source);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    // The table is bounded: a sweep happens only when it is full, so its cost
    // (one pass) is paid at most once per max_tracked_ new sources.
    if (buckets_.size() >= max_tracked_) forget_idle(now);
    // Everyone still in the table is busy: refuse newcomers rather than grow (fail closed).
    if (buckets_.size() >= max_tracked_) return Verdict::source_rate;
    it = buckets_.emplace(key, TokenBucket(limits_.per_source_rate, limits_.per_source_burst, now))
             .first;
  }
  if (!it->second.try_take(now)) return Verdict::source_rate;
  ++pending_;
  return Verdict::admitted;
}

void Admission::handshake_finished() {
  if (pending_ > 0) --pending_;
}

}  // namespace parley::server
