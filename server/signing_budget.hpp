// Bounds the RSA work done per turn of the event loop: a reconnect storm then costs established
// sessions at most that much latency before their reads and writes get a turn. The work is
// counted in units of one ordinary handshake's (a ClientHello with a 2048-bit key: parsing it,
// one signature, one encryption); a larger key costs more units (rsa_work_units()).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>

namespace parley::server {

// What RSA work with a client's key of `bits` costs, in units of a 2048-bit key's: Botan's key
// parsing and the public-key operations grow with the square of the modulus (measured: parse
// 0.33 ms at 2048 bits, 4.0 ms at 8192). At least 1.
constexpr std::size_t rsa_work_units(std::size_t bits) {
  const std::size_t scaled = (bits * bits + 2048 * 2048 - 1) / (2048 * 2048);
  return scaled == 0 ? 1 : scaled;
}

class SigningBudget {
 public:
  SigningBudget(boost::asio::any_io_executor executor, std::size_t per_turn)
      : executor_(std::move(executor)), per_turn_(per_turn) {}
  void set_per_turn(std::size_t per_turn) { per_turn_ = per_turn; }

  // Waits for a turn with `units` of room left; work larger than a whole turn gets a turn of
  // its own.
  boost::asio::awaitable<void> acquire(std::size_t units = 1) {
    while (used_ > 0 && used_ + units > per_turn_) {
      co_await boost::asio::post(executor_, boost::asio::use_awaitable);
    }
    // The first work of a turn schedules the reset behind everything already queued, which is
    // what "next turn" means for a single thread.
    if (used_ == 0) boost::asio::post(executor_, [this] { used_ = 0; });
    used_ += units;
  }

 private:
  boost::asio::any_io_executor executor_;
  std::size_t per_turn_;
  std::size_t used_ = 0;
};

}  // namespace parley::server
