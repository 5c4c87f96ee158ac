#include "outbox.hpp"

#include <stdexcept>

namespace parley::server {
namespace {

// A buffer above this is released once drained instead of kept for reuse, so a
// burst does not pin memory on a session that goes quiet.
constexpr std::size_t kKeepCapacity = 16 * 1024;

}  // namespace

bool Outbox::push(RecordSealer& sealer, ContentType type, ByteView data) {
  // Room for a key_update the sealer may put first.
  const std::size_t worst = sealer.frame_size(data.size()) + sealer.frame_size(0);
  if (unsent_bytes() + worst > budget_) return false;
  sealer.seal(type, data, buf_);
  return true;
}

void Outbox::push_final(RecordSealer& sealer, ContentType type, ByteView data) {
  sealer.seal(type, data, buf_);
}

void Outbox::wrote(std::size_t n) {
  if (n > unsent_bytes()) throw std::logic_error("Outbox: wrote more than was unsent");
  written_ += n;
  sent_total_ += n;
  if (written_ == buf_.size()) {
    buf_.clear();
    written_ = 0;
    if (buf_.capacity() > kKeepCapacity) Bytes().swap(buf_);
  } else if (written_ >= kKeepCapacity && written_ * 2 >= buf_.size()) {
    // A slow reader: drop the sent front once it is most of the buffer, so the
    // buffer stays proportional to what is unsent (and within the budget).
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(written_));
    written_ = 0;
  }
}

void Outbox::shrink() {
  if (!empty()) return;
  Bytes().swap(buf_);
  written_ = 0;
}

}  // namespace parley::server
