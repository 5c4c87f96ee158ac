// Sessions held, in all and per source (an IPv4 address, an IPv6 /64), counted from the moment
// the ServerHello goes out: a handshake takes its seat in the same turn as the "server full"
// check, so clients that all send their ClientHello first cannot overshoot max_clients, and
// one source cannot take every seat. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>

namespace parley::server {

struct OccupancyLimits {
  std::size_t max_sessions = 10000;
  std::size_t max_per_source = 64;
};

class Occupancy {
 public:
  explicit Occupancy(OccupancyLimits limits) : limits_(limits) {}
  void reconfigure(OccupancyLimits limits) { limits_ = limits; }

  bool has_room() const { return total_ < limits_.max_sessions; }
  bool source_has_room(const std::string& source) const {
    return held_by(source) < limits_.max_per_source;
  }
  std::size_t total() const { return total_; }
  std::size_t held_by(const std::string& source) const {
    const auto it = per_source_.find(source);
    return it == per_source_.end() ? 0 : it->second;
  }

  // One session's seat: given back when destroyed.
  class Seat {
   public:
    Seat() = default;
    Seat(Seat&& other) noexcept
        : occupancy_(std::exchange(other.occupancy_, nullptr)), source_(std::move(other.source_)) {}
    Seat& operator=(Seat&& other) noexcept {
      if (this != &other) {
        release();
        occupancy_ = std::exchange(other.occupancy_, nullptr);
        source_ = std::move(other.source_);
      }
      return *this;
    }
    Seat(const Seat&) = delete;
    Seat& operator=(const Seat&) = delete;
    ~Seat() { release(); }
    void release() {
      if (occupancy_ != nullptr) std::exchange(occupancy_, nullptr)->give_back(source_);
    }

   private:
    friend class Occupancy;
    Seat(Occupancy& occupancy, std::string source)
        : occupancy_(&occupancy), source_(std::move(source)) {}
    Occupancy* occupancy_ = nullptr;
    std::string source_;
  };

  // Takes a seat whatever the limits (the caller has checked them in this turn): a reload that
  // lowers a limit never closes a session.
  Seat take(std::string source) {
    ++total_;
    ++per_source_[source];
    return Seat(*this, std::move(source));
  }

 private:
  void give_back(const std::string& source) {
    --total_;
    if (auto it = per_source_.find(source); it != per_source_.end() && --it->second == 0)
      per_source_.erase(it);
  }

  OccupancyLimits limits_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_source_;
};

}  // namespace parley::server
