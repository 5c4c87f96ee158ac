// What the interactive client has to say, in order: requests typed but not yet sent, and
// requests sent but not yet answered. Sending is paced from the welcome's rate and burst
// (pacer.hpp), so that a paste of fifty lines reaches the server whole instead of coming back
// rate_limited; nothing the user typed is dropped. Pure code: times come from the caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "pacer.hpp"
#include "parley/request.hpp"

namespace parley::client {

class SendQueue {
 public:
  using Clock = std::chrono::steady_clock;
  // After the server says rate_limited anyway (its clock saw a burst ours did not), sending
  // pauses this long before the refused request goes again.
  static constexpr std::chrono::seconds kPauseAfterRefusal{1};

  struct Item {
    std::int64_t id = 0;
    req::Body body;
    std::string clock;  // when it was typed, as shown
    bool sent = false;
  };

  SendQueue(Pacer pacer, std::size_t capacity) : pacer_(pacer), capacity_(capacity) {}

  // Queues a request; false when `capacity` requests are unanswered already.
  bool push(req::Body body, std::string clock);
  // The next request to write now (marked sent), or nullopt when none waits or it is too soon.
  std::optional<req::Request> take(Clock::time_point now);
  // How long until take() has something; nullopt when nothing waits.
  std::optional<Clock::duration> next_in(Clock::time_point now) const;
  // The answer to `id` arrived: the request it answered, now off the queue (nullopt: not ours).
  std::optional<Item> settle(std::int64_t id);
  // `item` was refused for the rate, or could not be written: it goes first again, after a pause.
  void retry(Item item, Clock::time_point now);

  // A new session (reconnected): requests sent on the old one and not answered go again (at
  // least once: the old session may have taken them), after `first`, at the new server's pace.
  // `first` is not counted against the capacity (the caller bounds it).
  void restart(Pacer pacer, std::vector<req::Body> first, const std::string& clock);

  // Oldest first: everything not yet answered.
  const std::deque<Item>& items() const { return items_; }
  std::size_t waiting() const;

 private:
  Pacer pacer_;
  std::size_t capacity_;
  std::deque<Item> items_;
  std::int64_t next_id_ = 1;
  Clock::time_point paused_until_{};
};

}  // namespace parley::client
