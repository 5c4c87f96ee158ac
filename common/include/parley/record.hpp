// Records: protected frames carrying content_type || data (PROTOCOL.md 3).
// One RecordSealer per sending direction and one RecordOpener per receiving
// direction; each keeps its traffic secret, epoch and implicit sequence number.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "parley/bytes.hpp"
#include "parley/key_schedule.hpp"
#include "parley/record_cipher.hpp"
#include "parley/status.hpp"
#include "parley/suite.hpp"

namespace parley {

enum class ContentType : std::uint8_t { finished = 1, app = 2, key_update = 3, close = 4 };

enum class Direction { client_to_server, server_to_client };

class RecordSealer {
 public:
  RecordSealer(const SuiteInfo& suite, Secret traffic_secret);

  // Appends one record as a whole frame to out. When this record (plus the
  // key_update that must follow before the limit) would cross the suite's
  // per-key volume limit, a key_update goes first, so callers never count.
  // Throws std::length_error for data no frame can carry.
  void seal(ContentType type, ByteView data, Bytes& out);

  // Sends a key_update now and moves to the next epoch.
  void update_keys(Bytes& out);

  const SuiteInfo& suite() const { return *suite_; }
  std::uint64_t seq() const { return seq_; }
  std::uint32_t epoch() const { return epoch_; }
  // The frame size seal() produces for `data_size` bytes of data (no key_update).
  std::size_t frame_size(std::size_t data_size) const;

  // Drops the keyed cipher object (kilobytes for AES-GCM's tables), keeping only the traffic
  // secret; the next seal() re-derives it (tens of microseconds). For idle sessions.
  void release_cipher() { cipher_.reset(); }
  bool holds_cipher() const { return cipher_ != nullptr; }

  // Tests use small limits to exercise the automatic key update.
  void set_volume_limits(std::uint64_t max_records, std::uint64_t max_bytes);

 private:
  void seal_one(ContentType type, ByteView data, Bytes& out);

  const SuiteInfo* suite_;
  Secret ts_;
  std::unique_ptr<RecordCipher> cipher_;
  std::uint64_t seq_ = 0;
  std::uint32_t epoch_ = 0;
  std::uint64_t bytes_ = 0;  // plaintext bytes under the current key
  std::uint64_t max_records_;
  std::uint64_t max_bytes_;
};

enum class RecordError {
  bad_record,             // decryption or MAC failure, or too short for the tag
  empty,                  // no content-type byte
  unknown_type,           // content type not in the table
  key_update_with_data,   // a key_update must be empty
  finished_out_of_place,  // finished anywhere but record #0 of the direction
  expected_finished,      // record #0 of the direction is not a finished (or close)
  before_welcome,         // s2c record #1 must be the welcome (app) or a close
  close_too_short,        // close data shorter than its u16 code
  seq_exhausted,          // the next seq would repeat a nonce or counter
  after_failure,          // nothing is accepted after a failed record
};

std::string_view describe(RecordError error);
// True when the record itself was authentic (decrypted under the right keys):
// the peer really sent it, so a reply such as close(auth_failed) is meaningful.
bool authenticated(RecordError error);

struct OpenedRecord {
  ContentType type;
  ByteView data;  // valid until the next open()
};

class RecordOpener {
 public:
  // `seq` and `epoch` let tests start a receiver mid-stream, as the vectors do.
  RecordOpener(Direction direction, const SuiteInfo& suite, Secret traffic_secret,
               std::uint64_t seq = 0, std::uint32_t epoch = 0);

  // Opens the body of the next frame. A key_update is applied before it returns.
  std::variant<OpenedRecord, RecordError> open(ByteView body);

  const SuiteInfo& suite() const { return *suite_; }
  std::uint64_t seq() const { return seq_; }
  std::uint32_t epoch() const { return epoch_; }
  // Counts the next record as received without opening it: for a receiver that reads only a
  // sample of a stream whose records it can tell apart by size (the load generator). Nothing
  // is authenticated; the next open() expects the record after it, so skipping a record that
  // was not what the caller thought (a key_update) makes every later open() fail.
  std::optional<RecordError> skip();
  // Gives the plaintext buffer's and the keyed cipher's memory back (idle sessions); the next
  // open() re-derives the cipher from the traffic secret.
  void shrink() {
    Bytes().swap(plaintext_);
    cipher_.reset();
  }

 private:
  std::optional<RecordError> check_position(ContentType type, std::size_t data_size) const;

  Direction direction_;
  const SuiteInfo* suite_;
  Secret ts_;
  std::unique_ptr<RecordCipher> cipher_;
  std::uint64_t seq_;
  std::uint32_t epoch_;
  bool failed_ = false;
  Bytes plaintext_;
};

struct CloseRecord {
  StatusCode code = StatusCode::normal;
  std::string reason;
};

// u16 code || UTF-8 reason (cut at 256 bytes on a character boundary).
Bytes encode_close(StatusCode code, std::string_view reason);
std::optional<CloseRecord> parse_close(ByteView data);

}  // namespace parley
