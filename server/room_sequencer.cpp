#include "room_sequencer.hpp"

#include <cassert>
#include <utility>

namespace parley::server {

bool RoomSequencer::enqueue(PendingSay say) {
  if (queue_.size() >= max_waiting_) return false;
  queue_.push_back(std::move(say));
  return true;
}

void RoomSequencer::learn(std::optional<SubjectTip> tip) {
  tip_known_ = true;
  // Stored messages expire oldest first, so a newer one observed during the read is still there.
  if (tip && tip_ && tip_->stream_seq > tip->stream_seq) return;
  tip_ = tip;
}

void RoomSequencer::observe(SubjectTip tip) {
  if (!tip_ || tip.stream_seq > tip_->stream_seq) tip_ = tip;
}

std::optional<Proposal> RoomSequencer::next() {
  if (flight_ || queue_.empty() || !tip_known_) return std::nullopt;
  Proposal proposal;
  proposal.message = queue_.front().message;
  if (tip_) {
    proposal.message.seq = tip_->room_seq + 1;
    proposal.expect_last_subject_seq = tip_->stream_seq;
  } else {
    proposal.message.seq = 0;  // the subject's first: its seq will be its stream sequence
    proposal.expect_last_subject_seq = std::nullopt;
  }
  flight_ = proposal;
  return proposal;
}

std::pair<PendingSay, std::uint64_t> RoomSequencer::stored(std::uint64_t stream_seq) {
  assert(flight_ && !queue_.empty());
  const std::uint64_t seq = resolved_seq(flight_->message, stream_seq);
  flight_.reset();
  PendingSay say = std::move(queue_.front());
  queue_.pop_front();
  observe(SubjectTip{stream_seq, seq});
  say.message.seq = seq;
  return {std::move(say), seq};
}

void RoomSequencer::conflict() {
  assert(flight_);
  flight_.reset();
  tip_known_ = false;
}

PendingSay RoomSequencer::failed() {
  assert(flight_ && !queue_.empty());
  flight_.reset();
  tip_known_ = false;
  PendingSay say = std::move(queue_.front());
  queue_.pop_front();
  return say;
}

std::deque<PendingSay> RoomSequencer::drop_all() {
  flight_.reset();
  tip_known_ = false;
  return std::exchange(queue_, {});
}

}  // namespace parley::server
