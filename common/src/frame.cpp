#include "parley/frame.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace parley {

void append_frame(Bytes& out, ByteView body) {
  if (body.empty()) throw std::length_error("empty frame body");
  if (body.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("frame body too long");
  Writer w(out);
  w.u32(static_cast<std::uint32_t>(body.size()));
  w.raw(body);
}

Bytes encode_frame(ByteView body) {
  Bytes out;
  out.reserve(kFrameHeaderSize + body.size());
  append_frame(out, body);
  return out;
}

void FrameDecoder::feed(ByteView data) {
  if (error_ != FrameError::none || data.empty()) return;
  auto room = prepare(data.size());
  std::copy(data.begin(), data.end(), room.begin());
  commit(data.size());
}

void FrameDecoder::compact() {
  if (start_ == 0) return;
  std::copy(buf_.begin() + static_cast<std::ptrdiff_t>(start_),
            buf_.begin() + static_cast<std::ptrdiff_t>(end_), buf_.begin());
  end_ -= start_;
  start_ = 0;
}

std::span<std::uint8_t> FrameDecoder::prepare(std::size_t want) {
  if (start_ == end_) start_ = end_ = 0;
  if (buf_.size() - end_ < want) {
    compact();
    if (buf_.size() - end_ < want) buf_.resize(end_ + want);
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void FrameDecoder::commit(std::size_t n) {
  if (n > buf_.size() - end_) throw std::logic_error("FrameDecoder::commit past prepare");
  if (error_ != FrameError::none) return;
  end_ += n;
}

std::optional<ByteView> FrameDecoder::next() {
  if (error_ != FrameError::none || buffered() < kFrameHeaderSize) return std::nullopt;
  const std::uint32_t length = load_be32(buf_.data() + start_);
  if (length == 0) {
    error_ = FrameError::zero_length;
    return std::nullopt;
  }
  if (length > max_frame_) {
    error_ = FrameError::too_long;
    return std::nullopt;
  }
  if (buffered() - kFrameHeaderSize < length) return std::nullopt;
  ByteView body(buf_.data() + start_ + kFrameHeaderSize, length);
  start_ += kFrameHeaderSize + length;
  return body;
}

void FrameDecoder::shrink() {
  if (buffered() != 0) return;
  start_ = end_ = 0;
  Bytes().swap(buf_);
}

}  // namespace parley
