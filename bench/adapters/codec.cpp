#include "adapter.hpp"

namespace parley::bench {
namespace {

// A partial tail bigger than this is released once consumed, so idle connections hold none.
constexpr std::size_t kKeepPartial = 16 * 1024;

}  // namespace

void Codec::fail(CodecEvents& events, std::string_view what) {
  if (failed_) return;
  failed_ = true;
  events.on_failure(what);
}

void Codec::on_bytes(ByteView in, Bytes& out, CodecEvents& events) {
  if (failed_) return;
  ByteView data = in;
  if (!partial_.empty()) {
    append(partial_, in);
    data = partial_;
  }
  std::size_t pos = 0;
  while (pos < data.size() && !failed_) {
    const std::size_t used = consume(data.subspan(pos), out, events);
    if (used == 0) break;
    pos += used;
  }
  if (failed_) return;
  if (data.data() == partial_.data()) {
    partial_.erase(partial_.begin(), partial_.begin() + static_cast<std::ptrdiff_t>(pos));
    if (partial_.empty() && partial_.capacity() > kKeepPartial) Bytes().swap(partial_);
  } else if (pos < data.size()) {
    partial_.assign(data.begin() + static_cast<std::ptrdiff_t>(pos), data.end());
  }
}

}  // namespace parley::bench
