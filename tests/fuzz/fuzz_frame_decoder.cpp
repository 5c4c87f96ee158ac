// The frame decoder (PROTOCOL.md 1) against a one-shot reference reading of the same bytes.
// Input: [max_frame selector] [chunk size] stream... The stream is fed in chunks of the chosen
// size, alternating feed() with prepare()/commit(), and must give exactly the frames, the error
// and the leftover that reading the whole stream at once gives; each frame re-encodes to the
// bytes it came from.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "parley/frame.hpp"
#include "support.hpp"

namespace {

using parley::Bytes;
using parley::ByteView;
using parley::FrameError;

struct Reading {
  std::vector<Bytes> frames;
  FrameError error = FrameError::none;
  std::size_t leftover = 0;  // bytes after the last whole frame, when no error
};

// The protocol's rule written as plainly as possible: the length is judged as soon as its
// 4 bytes are there, whether or not the body has arrived.
Reading read_all(ByteView in, std::size_t max_frame) {
  Reading r;
  std::size_t pos = 0;
  while (in.size() - pos >= parley::kFrameHeaderSize) {
    const std::uint32_t length = parley::load_be32(in.data() + pos);
    if (length == 0) {
      r.error = FrameError::zero_length;
      return r;
    }
    if (length > max_frame) {
      r.error = FrameError::too_long;
      return r;
    }
    if (in.size() - pos - parley::kFrameHeaderSize < length) break;
    auto body = in.subspan(pos + parley::kFrameHeaderSize, length);
    r.frames.emplace_back(body.begin(), body.end());
    pos += parley::kFrameHeaderSize + length;
  }
  r.leftover = in.size() - pos;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Small limits make too_long reachable; 16384 is the handshake's, 65536 the default config's.
  constexpr std::array<std::size_t, 6> kMaxFrames = {
      1, 5, 300, parley::kHandshakeMaxFrame, 65536, 0xFFFFFFFF};
  const std::size_t max_frame = kMaxFrames[data[0] % kMaxFrames.size()];
  const std::size_t chunk = data[1] == 0 ? size : data[1];
  const ByteView stream(data + 2, size - 2);

  parley::FrameDecoder decoder(max_frame);
  std::vector<Bytes> frames;
  std::size_t consumed = 0;  // bytes of `stream` handed to the decoder
  for (std::size_t i = 0; consumed < stream.size(); ++i) {
    const auto piece = stream.subspan(consumed, std::min(chunk, stream.size() - consumed));
    const std::size_t before = decoder.buffered();
    if (i % 2 == 0) {
      decoder.feed(piece);
    } else {
      auto room = decoder.prepare(piece.size());
      FUZZ_CHECK(room.size() >= piece.size());
      std::copy(piece.begin(), piece.end(), room.begin());
      decoder.commit(piece.size());
    }
    consumed += piece.size();
    // After an error nothing more is taken in.
    if (decoder.error() != FrameError::none) FUZZ_CHECK(decoder.buffered() == before);
    while (auto body = decoder.next()) {
      FUZZ_CHECK(!body->empty() && body->size() <= max_frame);
      frames.emplace_back(body->begin(), body->end());
    }
  }

  const Reading expected = read_all(stream, max_frame);
  FUZZ_CHECK(frames == expected.frames);
  FUZZ_CHECK(decoder.error() == expected.error);
  if (expected.error == FrameError::none) FUZZ_CHECK(decoder.buffered() == expected.leftover);

  // Round trip: the frames, encoded again, are the stream's prefix they were read from.
  Bytes encoded;
  for (const auto& f : frames)
    parley::append_frame(encoded, f);
  FUZZ_CHECK(encoded.size() <= stream.size());
  FUZZ_CHECK(std::equal(encoded.begin(), encoded.end(), stream.begin()));

  decoder.shrink();
  if (expected.error == FrameError::none && expected.leftover == 0)
    FUZZ_CHECK(decoder.buffered() == 0);
  return 0;
}
