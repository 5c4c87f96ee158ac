// Bounds the RSA signatures done per turn of the event loop: a reconnect storm then costs
// established sessions at most that many signatures of latency before their reads and writes
// get a turn.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>

namespace parley::server {

class SigningBudget {
 public:
  SigningBudget(boost::asio::any_io_executor executor, std::size_t per_turn)
      : executor_(std::move(executor)), per_turn_(per_turn) {}
  void set_per_turn(std::size_t per_turn) { per_turn_ = per_turn; }

  boost::asio::awaitable<void> acquire() {
    while (used_ >= per_turn_) {
      co_await boost::asio::post(executor_, boost::asio::use_awaitable);
    }
    // The first signature of a turn schedules the reset behind everything
    // already queued, which is what "next turn" means for a single thread.
    if (used_++ == 0) boost::asio::post(executor_, [this] { used_ = 0; });
  }

 private:
  boost::asio::any_io_executor executor_;
  std::size_t per_turn_;
  std::size_t used_ = 0;
};

}  // namespace parley::server
