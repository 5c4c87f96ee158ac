// A session's queue of sealed records waiting for the socket.
//
// Records are sealed as they are pushed, so sequence numbers follow the write
// order exactly. Everything queued leaves in as few writes as the socket
// allows: the session hands next_write() to one non-blocking send per loop
// turn and reports how much the kernel took. The unsent bytes have a budget:
// a peer that does not read cannot make the server hold more than that for it.
#pragma once

#include <cstddef>
#include <cstdint>

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

  std::size_t budget() const { return budget_; }
  bool empty() const { return unsent_bytes() == 0; }
  std::size_t unsent_bytes() const { return buf_.size() - written_; }
  // Bytes ever written, and ever queued: a position in the stream that sent_total() passes once
  // everything queued before it has been written.
  std::uint64_t sent_total() const { return sent_total_; }
  std::uint64_t queued_total() const { return sent_total_ + unsent_bytes(); }

  // Every unsent byte, oldest first. Valid until the next push() or wrote().
  ByteView next_write() const { return {buf_.data() + written_, buf_.size() - written_}; }
  // The socket took the first n bytes of next_write().
  void wrote(std::size_t n);

  // Drops everything unsent: the socket failed and nothing more can reach the peer.
  void discard() { wrote(unsent_bytes()); }

  // Gives the buffer's memory back when nothing is unsent (idle sessions).
  void shrink();

 private:
  std::size_t budget_;
  Bytes buf_;
  std::size_t written_ = 0;  // bytes at the front of buf_ already sent
  std::uint64_t sent_total_ = 0;
};

}  // namespace parley::server
