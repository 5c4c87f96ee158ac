#include "send_queue.hpp"

#include <algorithm>

namespace parley::client {

bool SendQueue::push(req::Body body, std::string clock) {
  if (items_.size() >= capacity_) return false;
  items_.push_back(Item{next_id_++, std::move(body), std::move(clock), false});
  return true;
}

std::optional<req::Request> SendQueue::take(Clock::time_point now) {
  auto it = std::find_if(items_.begin(), items_.end(), [](const Item& i) { return !i.sent; });
  if (it == items_.end() || now < paused_until_ || pacer_.delay(now) > Clock::duration::zero())
    return std::nullopt;
  pacer_.spend(now);
  it->sent = true;
  return req::Request{RequestId{it->id}, it->body};
}

std::optional<SendQueue::Clock::duration> SendQueue::next_in(Clock::time_point now) const {
  if (waiting() == 0) return std::nullopt;
  const Clock::duration pause = paused_until_ > now ? paused_until_ - now : Clock::duration::zero();
  return std::max(pause, pacer_.delay(now));
}

std::optional<SendQueue::Item> SendQueue::settle(std::int64_t id) {
  auto it = std::find_if(items_.begin(), items_.end(),
                         [id](const Item& i) { return i.sent && i.id == id; });
  if (it == items_.end()) return std::nullopt;
  Item item = std::move(*it);
  items_.erase(it);
  return item;
}

void SendQueue::retry(Item item, Clock::time_point now) {
  item.sent = false;
  item.id = next_id_++;  // a late answer to the old id must not settle the new attempt
  const auto first_waiting =
      std::find_if(items_.begin(), items_.end(), [](const Item& i) { return !i.sent; });
  items_.insert(first_waiting, std::move(item));
  paused_until_ = now + kPauseAfterRefusal;
}

void SendQueue::restart(Pacer pacer, std::vector<req::Body> first, const std::string& clock) {
  pacer_ = pacer;
  paused_until_ = {};
  for (auto& item : items_) {
    item.sent = false;
    item.id = next_id_++;
  }
  std::deque<Item> ahead;
  for (auto& body : first)
    ahead.push_back(Item{next_id_++, std::move(body), clock, false});
  items_.insert(items_.begin(), std::make_move_iterator(ahead.begin()),
                std::make_move_iterator(ahead.end()));
}

std::size_t SendQueue::waiting() const {
  return static_cast<std::size_t>(
      std::count_if(items_.begin(), items_.end(), [](const Item& i) { return !i.sent; }));
}

}  // namespace parley::client
