// What pipe mode has in hand, in order: requests to send (a session's set-up, then lines read
// from standard input) and requests sent but not yet acknowledged. When a session is lost, the
// lines it did not acknowledge go again on the next one, after that one's set-up: at least
// once (the old server may have taken a line whose ack never came), never lost. Pure code.
//
// Bounded: the caller reads no more input while `max_unacked` requests or `max_unacked_bytes`
// of text wait for their acks, so a server that stops answering cannot make this grow.
//
// Not SendQueue (send_queue.hpp): that one numbers its requests itself and renumbers a retry;
// here the ids name input lines ("line 17 refused"), so a resent line keeps its id, and the
// server's answers come back in the order the requests went.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

#include "parley/request.hpp"

namespace parley::client {

class ResendQueue {
 public:
  struct Entry {
    req::Request request;
    bool line = false;    // read from input (resent after a reconnect); otherwise set-up
    bool resent = false;  // went out on an earlier session already
  };

  ResendQueue(std::size_t max_unacked, std::size_t max_unacked_bytes)
      : max_unacked_(max_unacked), max_unacked_bytes_(max_unacked_bytes) {}

  // A new session: `setup` goes first, then every line the old session did not acknowledge,
  // then the lines not sent yet. What is left of the old set-up is dropped (`setup` replaces
  // it). Returns how many lines go again.
  std::size_t restart(std::vector<req::Request> setup);

  // True when another input line may be read: nothing else waits to go and the window has room.
  bool wants_input() const;
  void push_line(req::Request request);

  // The next request to send (nullptr: none).
  const req::Request* next() const;
  // The request next() named was written: it waits for its answer now. True when it is a line
  // going out for the first time.
  bool sent();
  // The answer to `id`: the oldest unanswered request, when it has that id (the server answers
  // in order), off the queue.
  std::optional<Entry> settle(const RequestId& id);

  bool idle() const { return to_send_.empty() && unacked_.empty(); }
  // Lines read and not acknowledged yet, sent or not.
  std::size_t lines_in_hand() const;

 private:
  std::size_t max_unacked_;
  std::size_t max_unacked_bytes_;
  std::deque<Entry> to_send_;
  std::deque<Entry> unacked_;
  std::size_t unacked_bytes_ = 0;
};

}  // namespace parley::client
