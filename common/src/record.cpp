#include "parley/record.hpp"

#include <limits>
#include <stdexcept>

#include "parley/frame.hpp"
#include "parley/hello.hpp"

namespace parley {
namespace {

// The cipher for one epoch: keyed here, once, and kept until the next key_update.
std::unique_ptr<RecordCipher> cipher_for(const SuiteInfo& suite, const Secret& ts,
                                         CipherRole role) {
  return make_record_cipher(suite, derive_traffic_keys(suite, ts), role);
}

}  // namespace

RecordSealer::RecordSealer(const SuiteInfo& suite, Secret traffic_secret)
    : suite_(&suite),
      ts_(std::move(traffic_secret)),
      cipher_(cipher_for(suite, ts_, CipherRole::seal)),
      max_records_(suite.max_records_per_key),
      max_bytes_(suite.max_bytes_per_key) {}

void RecordSealer::set_volume_limits(std::uint64_t max_records, std::uint64_t max_bytes) {
  max_records_ = max_records;
  max_bytes_ = max_bytes;
}

std::size_t RecordSealer::frame_size(std::size_t data_size) const {
  return kFrameHeaderSize + 1 + data_size + suite_->tag_len;
}

void RecordSealer::seal(ContentType type, ByteView data, Bytes& out) {
  // A key_update must also switch our own keys; only update_keys() does both.
  if (type == ContentType::key_update) throw std::invalid_argument("use update_keys()");
  const std::uint64_t plaintext = 1 + data.size();
  // Keep a record and a byte in reserve for the key_update that must follow,
  // so both counts stay strictly below the suite's limits.
  if (plaintext + 1 >= max_bytes_) throw std::length_error("record too large for one key");
  const bool over = seq_ + 2 >= max_records_ || bytes_ + plaintext + 1 >= max_bytes_;
  // A key_update may not come before the handshake records (c2s #0, s2c #0 and #1).
  const bool update_allowed = epoch_ > 0 || seq_ >= 2;
  if (over && update_allowed) update_keys(out);
  seal_one(type, data, out);
}

void RecordSealer::update_keys(Bytes& out) {
  seal_one(ContentType::key_update, {}, out);
  ts_ = next_traffic_secret(ts_);
  cipher_ = cipher_for(*suite_, ts_, CipherRole::seal);
  seq_ = 0;
  bytes_ = 0;
  ++epoch_;
}

void RecordSealer::seal_one(ContentType type, ByteView data, Bytes& out) {
  const std::size_t body = 1 + data.size() + suite_->tag_len;
  if (body > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("record too long");
  const std::size_t frame = out.size();
  Writer w(out);
  w.u32(static_cast<std::uint32_t>(body));
  w.u8(static_cast<std::uint8_t>(type));
  w.raw(data);
  if (!cipher_) cipher_ = cipher_for(*suite_, ts_, CipherRole::seal);  // after release_cipher()
  cipher_->seal(seq_, out, frame);
  ++seq_;
  bytes_ += 1 + data.size();
}

std::string_view describe(RecordError error) {
  switch (error) {
    case RecordError::bad_record:
      return "record failed authentication";
    case RecordError::empty:
      return "record has no content type";
    case RecordError::unknown_type:
      return "unknown content type";
    case RecordError::key_update_with_data:
      return "key_update carries data";
    case RecordError::finished_out_of_place:
      return "finished record after the handshake";
    case RecordError::expected_finished:
      return "first record is not finished";
    case RecordError::before_welcome:
      return "record before the welcome";
    case RecordError::close_too_short:
      return "close record without a code";
    case RecordError::seq_exhausted:
      return "sequence number exhausted";
    case RecordError::after_failure:
      return "record after a failed one";
  }
  return "record error";
}

bool authenticated(RecordError error) {
  return error != RecordError::bad_record && error != RecordError::seq_exhausted &&
         error != RecordError::after_failure;
}

RecordOpener::RecordOpener(Direction direction, const SuiteInfo& suite, Secret traffic_secret,
                           std::uint64_t seq, std::uint32_t epoch)
    : direction_(direction),
      suite_(&suite),
      ts_(std::move(traffic_secret)),
      cipher_(cipher_for(suite, ts_, CipherRole::open)),
      seq_(seq),
      epoch_(epoch) {}

std::optional<RecordError> RecordOpener::check_position(ContentType type,
                                                        std::size_t data_size) const {
  const bool first = epoch_ == 0 && seq_ == 0;
  if (type == ContentType::finished && !first) return RecordError::finished_out_of_place;
  // A close may answer a failed handshake (the server's close(auth_failed) is s2c #0).
  if (first && type != ContentType::finished && type != ContentType::close)
    return RecordError::expected_finished;
  const bool welcome_slot = direction_ == Direction::server_to_client && epoch_ == 0 && seq_ == 1;
  if (welcome_slot && type != ContentType::app && type != ContentType::close)
    return RecordError::before_welcome;
  if (type == ContentType::key_update && data_size != 0) return RecordError::key_update_with_data;
  if (type == ContentType::close && data_size < 2) return RecordError::close_too_short;
  return std::nullopt;
}

std::variant<OpenedRecord, RecordError> RecordOpener::open(ByteView body) {
  auto fail = [this](RecordError e) {
    failed_ = true;
    return e;
  };
  if (failed_) return RecordError::after_failure;
  if (seq_ >= suite_->seq_limit) return fail(RecordError::seq_exhausted);
  if (body.size() > std::numeric_limits<std::uint32_t>::max()) return fail(RecordError::bad_record);

  std::uint8_t header[kFrameHeaderSize];
  store_be32(header, static_cast<std::uint32_t>(body.size()));
  if (!cipher_) cipher_ = cipher_for(*suite_, ts_, CipherRole::open);  // after release_cipher()
  if (!cipher_->open(seq_, header, body, plaintext_)) return fail(RecordError::bad_record);
  if (plaintext_.empty()) return fail(RecordError::empty);
  const std::uint8_t raw_type = plaintext_[0];
  if (raw_type < 1 || raw_type > 4) return fail(RecordError::unknown_type);
  const auto type = static_cast<ContentType>(raw_type);
  const ByteView data = ByteView(plaintext_).subspan(1);
  if (auto bad = check_position(type, data.size())) return fail(*bad);

  ++seq_;
  if (type == ContentType::key_update) {
    ts_ = next_traffic_secret(ts_);
    cipher_ = cipher_for(*suite_, ts_, CipherRole::open);
    seq_ = 0;
    ++epoch_;
  }
  return OpenedRecord{type, data};
}

std::optional<RecordError> RecordOpener::skip() {
  if (failed_) return RecordError::after_failure;
  if (seq_ >= suite_->seq_limit) {
    failed_ = true;
    return RecordError::seq_exhausted;
  }
  if (seq_ == 0 && epoch_ == 0) {
    failed_ = true;  // record #0 is the finished: it must be read
    return RecordError::expected_finished;
  }
  ++seq_;
  return std::nullopt;
}

Bytes encode_close(StatusCode code, std::string_view reason) {
  Bytes out;
  Writer w(out);
  w.u16(static_cast<std::uint16_t>(code));
  w.raw(as_bytes(truncate_utf8(reason, kMaxReasonBytes)));
  return out;
}

std::optional<CloseRecord> parse_close(ByteView data) {
  Reader r(data);
  auto code = r.u16();
  if (!code) return std::nullopt;
  auto rest = r.raw(r.remaining());
  return CloseRecord{static_cast<StatusCode>(*code),
                     truncate_utf8(as_chars(*rest), kMaxReasonBytes)};
}

}  // namespace parley
