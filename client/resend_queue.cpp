#include "resend_queue.hpp"

#include <algorithm>

namespace parley::client {

namespace {

// The text a request carries: what the window's byte bound counts.
std::size_t text_bytes(const req::Body& body) {
  if (const auto* say = std::get_if<req::Say>(&body)) return say->text.size();
  if (const auto* msg = std::get_if<req::Msg>(&body)) return msg->text.size();
  return 0;
}

}  // namespace

std::size_t ResendQueue::restart(std::vector<req::Request> setup) {
  std::deque<Entry> next;
  for (auto& request : setup) {
    Entry entry;
    entry.request = std::move(request);
    next.push_back(std::move(entry));
  }
  std::size_t again = 0;
  for (auto* from : {&unacked_, &to_send_})
    for (auto& entry : *from) {
      if (!entry.line) continue;
      if (from == &unacked_) {
        entry.resent = true;
        ++again;
      }
      next.push_back(std::move(entry));
    }
  to_send_ = std::move(next);
  unacked_.clear();
  unacked_bytes_ = 0;
  return again;
}

bool ResendQueue::wants_input() const {
  return to_send_.empty() && unacked_.size() < max_unacked_ && unacked_bytes_ < max_unacked_bytes_;
}

void ResendQueue::push_line(req::Request request) {
  Entry entry;
  entry.request = std::move(request);
  entry.line = true;
  to_send_.push_back(std::move(entry));
}

const req::Request* ResendQueue::next() const {
  return to_send_.empty() ? nullptr : &to_send_.front().request;
}

bool ResendQueue::sent() {
  if (to_send_.empty()) return false;
  Entry entry = std::move(to_send_.front());
  to_send_.pop_front();
  const bool first_time = entry.line && !entry.resent;
  unacked_bytes_ += text_bytes(entry.request.body);
  unacked_.push_back(std::move(entry));
  return first_time;
}

std::optional<ResendQueue::Entry> ResendQueue::settle(const RequestId& id) {
  if (unacked_.empty() || !(unacked_.front().request.id == id)) return std::nullopt;
  Entry entry = std::move(unacked_.front());
  unacked_.pop_front();
  unacked_bytes_ -= text_bytes(entry.request.body);
  return entry;
}

std::size_t ResendQueue::lines_in_hand() const {
  const auto lines = [](const std::deque<Entry>& entries) {
    return static_cast<std::size_t>(
        std::count_if(entries.begin(), entries.end(), [](const Entry& e) { return e.line; }));
  };
  return lines(to_send_) + lines(unacked_);
}

}  // namespace parley::client
