// Frames: u32 length || body, 1 <= length <= max_frame (PROTOCOL.md section 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "parley/bytes.hpp"

namespace parley {

inline constexpr std::size_t kFrameHeaderSize = 4;
// max_frame for every frame up to and including the welcome.
inline constexpr std::size_t kHandshakeMaxFrame = 16384;
// The largest max_frame a server may be configured with, and so announce in its welcome. The
// server's config refuses more, and the client refuses a welcome that announces more: it
// buffers a whole frame, and a hostile server could otherwise announce (and send) 4 GiB ones.
inline constexpr std::size_t kMaxConfigurableFrame = 16 * 1024 * 1024;

// Appends header and body to out. Throws std::length_error for an empty body
// or one longer than a u32 can say: both would be protocol errors of our own.
void append_frame(Bytes& out, ByteView body);
Bytes encode_frame(ByteView body);

enum class FrameError {
  none,
  zero_length,  // a length field of 0
  too_long,     // a length field above max_frame
};

// Incremental decoder: bytes go in in any chunking, whole frame bodies come
// out. The length is judged as soon as its 4 bytes are here, so a peer cannot
// make us wait for (or buffer) a body we would refuse anyway.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame) : max_frame_(max_frame) {}

  // The limit applies to frames not yet returned; the server raises it after the welcome.
  void set_max_frame(std::size_t max_frame) { max_frame_ = max_frame; }
  std::size_t max_frame() const { return max_frame_; }

  // Copies bytes in. Ignored after an error: nothing more is accepted.
  void feed(ByteView data);

  // Zero-copy input: a writable span of at least `want` bytes at the end of
  // the buffer; after reading into it, commit() how many arrived.
  std::span<std::uint8_t> prepare(std::size_t want);
  void commit(std::size_t n);

  // The next whole frame body, or nullopt when more bytes are needed or an
  // error was found (see error()). The view stays valid until the next call to
  // next(), feed() or prepare().
  std::optional<ByteView> next();

  FrameError error() const { return error_; }
  // Bytes held that do not yet form a whole frame.
  std::size_t buffered() const { return end_ - start_; }
  // Gives the buffer's memory back when nothing is buffered (idle sessions).
  void shrink();

 private:
  void compact();

  std::size_t max_frame_;
  Bytes buf_;
  std::size_t start_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last received byte
  FrameError error_ = FrameError::none;
};

}  // namespace parley
