// A session's queue of sealed records waiting for the socket.
//
// Records are sealed as they are pushed, so sequence numbers follow the write
// order exactly; the writer coroutine takes everything queued so far as one
// buffer for one async_write. The unsent bytes have a budget: a peer that does
// not read cannot make the server hold more than that for it.
#pragma once

#include <cstddef>

#include "parley/bytes.hpp"
#include "parley/record.hpp"

namespace parley::server {

class Outbox {
 public:
  explicit Outbox(std::size_t budget_bytes) : budget_(budget_bytes) {}

  // Seals one record. Returns false, queueing nothing, when it would take the
  // unsent bytes over budget: the caller closes the session as a slow consumer.
  bool push(RecordSealer& sealer, ContentType type, ByteView data);

  // The close record goes out even over budget (it is small and it is the
  // last): a peer closed for being slow still learns why.
  void push_final(RecordSealer& sealer, ContentType type, ByteView data);

  bool has_queued() const { return !queued_.empty(); }
  bool writing() const { return writing_active_; }
  std::size_t unsent_bytes() const { return queued_.size() + writing_.size(); }

  // Moves everything queued into the write buffer and returns it; it stays
  // valid and unchanged until end_write(). One write at a time.
  // Gives both buffers' memory back when nothing is queued or being written (idle sessions).
  void shrink();
  const Bytes& begin_write();
  void end_write();

 private:
  std::size_t budget_;
  Bytes queued_;
  Bytes writing_;
  bool writing_active_ = false;
};

}  // namespace parley::server
