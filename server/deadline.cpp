#include "deadline.hpp"

namespace parley::server {

void Deadline::arm(Clock::time_point when) {
  when_ = when;
  passed_ = false;
  if (when == Clock::time_point::max()) return;  // no deadline: a timer armed earlier may stay
  if (timer_at_ && *timer_at_ <= when) return;   // fires early and waits again
  start_timer();
}

void Deadline::bring_forward(Clock::time_point when) {
  if (passed_ || when >= when_) return;
  when_ = when;
  if (!timer_at_ || *timer_at_ > when) start_timer();
}

void Deadline::stop() {
  when_ = Clock::time_point::max();
  timer_at_.reset();
  timer_.cancel();
}

void Deadline::start_timer() {
  timer_at_ = when_;
  timer_.expires_at(when_);  // a wait already armed ends with operation_aborted
  timer_.async_wait([this, owner = owner_](const boost::system::error_code& ec) {
    if (ec) return;
    const auto alive = owner.lock();
    if (!alive) return;
    timer_at_.reset();
    if (when_ == Clock::time_point::max()) return;
    if (Clock::now() < when_) {
      start_timer();  // the deadline moved on since the timer was armed
      return;
    }
    passed_ = true;
    signal_.emit(boost::asio::cancellation_type::terminal);
  });
}

}  // namespace parley::server
