#include "reconnect.hpp"

#include <algorithm>

#include "parley/names.hpp"

namespace parley::client {

bool may_reconnect_after(StatusCode code) {
  switch (code) {
    case StatusCode::auth_failed:
    case StatusCode::policy:
    case StatusCode::replaced:
    case StatusCode::kicked:
      return false;
    default:
      return true;
  }
}

std::optional<std::chrono::milliseconds> Backoff::next(Clock::time_point now, double unit) {
  using std::chrono::milliseconds;
  if (waited(now) >= give_up_after_) return std::nullopt;
  unit = std::clamp(unit, 0.0, 1.0);
  milliseconds wait;
  if (asked_ && attempts_ == 0) {
    wait = *asked_ +
           milliseconds(static_cast<std::int64_t>(unit * asked_->count() / 10.0 + unit * 250));
  } else {
    const int doublings = std::min(attempts_, 5);  // 1, 2, 4, 8, 16, 30 s
    const milliseconds step = std::min(kLongest, kFirst * (1 << doublings));
    wait = milliseconds(static_cast<std::int64_t>(step.count() * (0.5 + unit / 2)));
  }
  ++attempts_;
  // Never past the moment of giving up by more than one short step.
  const milliseconds left = give_up_after_ - waited(now);
  return std::min(wait, std::max(left, milliseconds(0)));
}

bool RoomCursor::advance(std::string_view room, std::uint64_t seq) {
  auto [it, inserted] = last_.try_emplace(fold_name(room), seq);
  if (inserted) return true;
  if (seq <= it->second) return false;
  it->second = seq;
  return true;
}

std::optional<std::uint64_t> RoomCursor::last(std::string_view room) const {
  auto it = last_.find(fold_name(room));
  if (it == last_.end()) return std::nullopt;
  return it->second;
}

void RoomCursor::forget(std::string_view room) {
  last_.erase(fold_name(room));
}

std::vector<req::Body> resume_requests(const ResumeState& state, const RoomCursor& cursor,
                                       bool server_has_history) {
  std::vector<req::Body> out;
  req::Nick nick{state.nick};
  nick.takeover = state.has_identity;
  out.emplace_back(std::move(nick));
  for (const auto& room : state.rooms) {
    out.emplace_back(req::Join{room});
    if (server_has_history) {
      req::History history;
      history.room = room;
      history.after = cursor.last(room);
      out.emplace_back(std::move(history));
    }
  }
  return out;
}

std::string NickReclaim::variant() const {
  return wanted_.substr(0, kMaxNameBytes - 1) + "_";
}

std::optional<std::string> NickReclaim::on_taken(std::string_view asked,
                                                 std::string_view current) const {
  if (fold_name(asked) != fold_name(wanted_)) return std::nullopt;
  std::string meanwhile = variant();
  if (fold_name(meanwhile) == fold_name(current)) return std::nullopt;
  return meanwhile;
}

std::optional<std::string> NickReclaim::on_gone(std::string_view nick,
                                                std::string_view current) const {
  if (fold_name(nick) != fold_name(wanted_) || fold_name(current) == fold_name(wanted_))
    return std::nullopt;
  return wanted_;
}

}  // namespace parley::client
