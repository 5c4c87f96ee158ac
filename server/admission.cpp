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

std::size_t Admission::pending_from(const boost::asio::ip::address& source) const {
  const auto it = pending_per_source_.find(source_key(source));
  return it == pending_per_source_.end() ? 0 : it->second;
}

std::optional<std::uint64_t> Admission::slowest(Clock::time_point now) const {
  // Among those past the grace, the fewest bytes per second; else (everyone is young: a peer
  // that keeps reconnecting) the oldest. A real client's ClientHello follows its connect at
  // once, so it is rarely a candidate, and never for long.
  std::optional<std::uint64_t> slow, oldest;
  double slow_rate = 0;
  Clock::duration slow_age{}, oldest_age{};
  for (const auto& [id, p] : pending_) {
    if (p.hello) continue;
    const auto age = now - p.since;
    if (!oldest || age > oldest_age) {
      oldest = id;
      oldest_age = age;
    }
    if (age < limits_.eviction_grace) continue;
    const double rate = static_cast<double>(p.bytes) / std::chrono::duration<double>(age).count();
    // Ties (sources that send nothing at all): the oldest goes first.
    if (!slow || rate < slow_rate || (rate == slow_rate && age > slow_age)) {
      slow = id;
      slow_rate = rate;
      slow_age = age;
    }
  }
  return slow ? slow : oldest;
}

Admission::Decision Admission::admit(std::uint64_t id, const boost::asio::ip::address& source,
                                     Clock::time_point now) {
  std::string key = source_key(source);
  if (auto it = pending_per_source_.find(key);
      it != pending_per_source_.end() && it->second >= limits_.max_pending_per_source)
    return {Verdict::source_pending, std::nullopt};
  auto bucket = buckets_.find(key);
  if (bucket == buckets_.end()) {
    // The table is bounded: a sweep happens only when it is full, so its cost
    // (one pass) is paid at most once per max_tracked_ new sources.
    if (buckets_.size() >= max_tracked_) forget_idle(now);
    // Everyone still in the table is busy: refuse newcomers rather than grow (fail closed).
    if (buckets_.size() >= max_tracked_) return {Verdict::source_rate, std::nullopt};
    bucket =
        buckets_.emplace(key, TokenBucket(limits_.per_source_rate, limits_.per_source_burst, now))
            .first;
  }
  if (!bucket->second.try_take(now)) return {Verdict::source_rate, std::nullopt};

  std::optional<std::uint64_t> evicted;
  if (pending_.size() >= limits_.max_pending) {
    // Full: the connection that has done least with its place gives it up, rather than a
    // newcomer being refused (a few slow senders would otherwise lock everyone out).
    evicted = slowest(now);
    if (!evicted) return {Verdict::too_many_pending, std::nullopt};
    remove(pending_.find(*evicted));
  }
  ++pending_per_source_[key];
  pending_.insert_or_assign(id, Pending{std::move(key), now});
  return {Verdict::admitted, evicted};
}

void Admission::received(std::uint64_t id, std::uint64_t bytes) {
  if (auto it = pending_.find(id); it != pending_.end()) it->second.bytes = bytes;
}

void Admission::hello_received(std::uint64_t id) {
  if (auto it = pending_.find(id); it != pending_.end()) it->second.hello = true;
}

bool Admission::charge(std::uint64_t id, std::size_t units, Clock::time_point now) {
  if (units <= 1) return true;
  const auto it = pending_.find(id);
  if (it == pending_.end()) return true;
  // The bucket may have been forgotten (it was full): a full one is what it would be.
  auto bucket =
      buckets_
          .try_emplace(it->second.source, limits_.per_source_rate, limits_.per_source_burst, now)
          .first;
  return bucket->second.try_take(now, static_cast<double>(units - 1));
}

void Admission::handshake_finished(std::uint64_t id) {
  if (auto it = pending_.find(id); it != pending_.end()) remove(it);
}

void Admission::remove(std::unordered_map<std::uint64_t, Pending>::iterator it) {
  auto count = pending_per_source_.find(it->second.source);
  if (count != pending_per_source_.end() && --count->second == 0) pending_per_source_.erase(count);
  pending_.erase(it);
}

}  // namespace parley::server
