#include "outbox.hpp"

#include <stdexcept>
#include <utility>

namespace parley::server {
namespace {

// Buffers above this are released after a write instead of kept for reuse,
// so a burst does not pin memory on an idle session.
constexpr std::size_t kKeepCapacity = 16 * 1024;

void release_if_large(Bytes& b) {
  b.clear();
  if (b.capacity() > kKeepCapacity) Bytes().swap(b);
}

}  // namespace

bool Outbox::push(RecordSealer& sealer, ContentType type, ByteView data) {
  // Room for a key_update the sealer may put first.
  const std::size_t worst = sealer.frame_size(data.size()) + sealer.frame_size(0);
  if (unsent_bytes() + worst > budget_) return false;
  sealer.seal(type, data, queued_);
  return true;
}

void Outbox::push_final(RecordSealer& sealer, ContentType type, ByteView data) {
  sealer.seal(type, data, queued_);
}

const Bytes& Outbox::begin_write() {
  if (writing_active_) throw std::logic_error("Outbox: a write is already in progress");
  writing_active_ = true;
  std::swap(queued_, writing_);
  return writing_;
}

void Outbox::shrink() {
  if (writing_active_ || !queued_.empty()) return;
  Bytes().swap(queued_);
  Bytes().swap(writing_);
}

void Outbox::end_write() {
  writing_active_ = false;
  release_if_large(writing_);
  if (queued_.empty()) release_if_large(queued_);
}

}  // namespace parley::server
