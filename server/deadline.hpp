// A deadline for one pending operation at a time, without a parallel group (`op || timer`
// allocates per wait and keeps two coroutine frames): the operation is bound to this object's
// cancellation slot, and a timer handler emits a terminal cancellation on it when the time has
// passed.
//
// Moving the deadline later does not touch the timer: it fires at the earlier time, sees the
// later one and waits again. A busy session moves its deadline on every batch of records, so
// this keeps timer-queue work off the hot path.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace parley::server {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // `owner` keeps this object alive while a timer handler may still touch it (the handler
  // holds a weak reference to it).
  Deadline(boost::asio::any_io_executor executor) : timer_(std::move(executor)) {}

  void set_owner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

  // Before starting the operation: it ends with operation_aborted at `when` at the latest.
  void arm(Clock::time_point when);
  // While the operation is pending: the deadline moves to `when` if that is earlier. Unlike
  // arm(), it leaves passed() alone (the time may have passed already, its wake-up on the way).
  void bring_forward(Clock::time_point when);
  // Ends the bound operation now (passed() stays false: the caller knows why).
  void cancel_now() { signal_.emit(boost::asio::cancellation_type::terminal); }
  // Stops the timer (the owner is ending).
  void stop();

  boost::asio::cancellation_slot slot() { return signal_.slot(); }
  // After the operation: true when it was the time that ended it.
  bool passed() const { return passed_; }

 private:
  void start_timer();

  boost::asio::steady_timer timer_;
  boost::asio::cancellation_signal signal_;
  std::weak_ptr<void> owner_;
  Clock::time_point when_ = Clock::time_point::max();
  std::optional<Clock::time_point> timer_at_;  // while the timer is armed
  bool passed_ = false;
};

}  // namespace parley::server
