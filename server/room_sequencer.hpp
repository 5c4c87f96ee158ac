// One room's proposals in a cluster (docs/cluster.md, "Who assigns a room's seq"), as pure
// code: which room seq a node proposes next and against which stored message, what a stored
// publish, a conflict or a failure change, and the queue of says waiting their turn. The
// coroutine that talks to JetStream (cluster_rooms.*) does what this says; nothing here knows
// NATS or a clock.
//
// One proposal is in flight per room and node at a time: the next one's expected last subject
// sequence is the previous one's stream sequence, known only from its publish ack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "cluster_wire.hpp"
#include "parley/request.hpp"

namespace parley::server {

// The last message stored on a room's subject, as far as this node knows.
struct SubjectTip {
  std::uint64_t stream_seq = 0;  // JetStream's sequence of that message
  std::uint64_t room_seq = 0;    // the room seq it stands for (resolved_seq)
  bool operator==(const SubjectTip&) const = default;
};

// A say accepted locally and waiting to be stored: whom to ack, and what to store.
struct PendingSay {
  std::uint64_t session = 0;
  RequestId request;
  ClusterMessage message;  // everything but seq, which the sequencer fills in
};

// What to publish: the message (its seq set) and the condition JetStream must check.
struct Proposal {
  ClusterMessage message;
  // nullopt: the subject must hold no message yet (JetStream's "expect no message").
  std::optional<std::uint64_t> expect_last_subject_seq;
};

class RoomSequencer {
 public:
  // At most this many says wait per room on one node; a say beyond it is refused `unavailable`
  // at once rather than queued without bound behind a slow or absent JetStream.
  explicit RoomSequencer(std::size_t max_waiting) : max_waiting_(max_waiting) {}

  // Queues a say; false when the queue is full.
  bool enqueue(PendingSay say);
  std::size_t waiting() const { return queue_.size(); }
  bool in_flight() const { return flight_.has_value(); }

  // What the subject holds is unknown (at start, after a conflict): the caller reads the
  // subject's last message and calls learn() before asking for a proposal.
  bool tip_known() const { return tip_known_; }
  // The subject's last stored message, or nullopt when it holds none. Authoritative, except
  // that a message observed meanwhile with a higher stream sequence is newer still.
  void learn(std::optional<SubjectTip> tip);
  // A message of this room applied from the stream (any node's, this proposal's own included):
  // it moves the tip forward only, so a node that saw another's message proposes right the
  // first time. It never makes an unknown tip known: only a read of the subject does.
  void observe(SubjectTip tip);

  // The front say as a proposal, marking it in flight; nullopt when nothing waits, one is in
  // flight already, or the tip is unknown.
  std::optional<Proposal> next();

  // The in-flight proposal was stored at `stream_seq`: returns the say (for its ack) and its
  // room seq.
  std::pair<PendingSay, std::uint64_t> stored(std::uint64_t stream_seq);
  // Another node stored first: the front say stays queued and the tip must be read again.
  void conflict();
  // The publish failed for another reason (NATS unreachable, timeout): the front say is given
  // up (the caller answers it `unavailable`: it may or may not have been stored) and the tip is
  // read again before the next proposal.
  PendingSay failed();
  // Everything queued, given up at once (the link went down): the caller refuses each.
  std::deque<PendingSay> drop_all();

 private:
  std::size_t max_waiting_;
  std::deque<PendingSay> queue_;  // the front is the one in flight, when one is
  std::optional<Proposal> flight_;
  bool tip_known_ = false;
  std::optional<SubjectTip> tip_;  // nullopt with tip_known_: the subject is empty
};

}  // namespace parley::server
