// The body of the three record-open targets, one per suite (PROTOCOL.md 3): frames in, opened
// under the suite's epoch-0 traffic secret from tests/vectors/records.json, so the vectors'
// records (the seeds) open and the fuzzer works on real plaintexts, not only on bad tags.
//
// Input: [direction: bit 0, 0 = c2s, 1 = s2c] then a stream of frames. Every record that opens
// is sealed again by a RecordSealer that started from the same secret: AEAD and CTR+HMAC are
// deterministic for a key and a seq, so the frame must come out byte for byte as it went in,
// and both sides must agree on seq and epoch (a key_update moves both). A failed record fails
// the direction for good.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <variant>

#include "parley/frame.hpp"
#include "parley/key_schedule.hpp"
#include "parley/record.hpp"
#include "parley/suite.hpp"
#include "support.hpp"

namespace parley::fuzz {

inline Secret epoch0_secret(SuiteId suite, Direction direction) {
  char id[8];
  std::snprintf(id, sizeof id, "0x%04x", static_cast<unsigned>(suite));
  const auto& dir = vectors(
      "records.json")["suites"][id][direction == Direction::client_to_server ? "c2s" : "s2c"];
  const auto& epoch0 = dir["epochs"][0];
  FUZZ_CHECK(epoch0["epoch"] == 0);
  const Bytes ts = hex(epoch0["ts"]);
  return Secret(ts.begin(), ts.end());
}

inline int open_records(SuiteId id, const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const SuiteInfo& suite = suite_info(id);
  const Direction direction =
      (data[0] & 1) == 0 ? Direction::client_to_server : Direction::server_to_client;
  // Read once: deriving them per input would only measure the JSON parser.
  static const Secret c2s = epoch0_secret(id, Direction::client_to_server);
  static const Secret s2c = epoch0_secret(id, Direction::server_to_client);
  const Secret& ts = direction == Direction::client_to_server ? c2s : s2c;

  RecordOpener opener(direction, suite, ts);
  RecordSealer sealer(suite, ts);
  // The sealer must never slip in a key_update of its own: that would be a record the input
  // did not have.
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  sealer.set_volume_limits(kMax, kMax);

  FrameDecoder decoder(65536 + suite.tag_len + 1);
  decoder.feed(ByteView(data + 1, size - 1));
  bool failed = false;
  while (auto body = decoder.next()) {
    const Bytes frame = encode_frame(*body);
    auto opened = opener.open(*body);
    if (auto* error = std::get_if<RecordError>(&opened)) {
      FUZZ_CHECK(!failed || *error == RecordError::after_failure);
      failed = true;
      continue;
    }
    FUZZ_CHECK(!failed);
    const auto& record = std::get<OpenedRecord>(opened);
    FUZZ_CHECK(record.type >= ContentType::finished && record.type <= ContentType::close);
    if (record.type == ContentType::key_update) FUZZ_CHECK(record.data.empty());
    if (record.type == ContentType::close) FUZZ_CHECK(parse_close(record.data).has_value());

    Bytes again;
    if (record.type == ContentType::key_update)
      sealer.update_keys(again);
    else
      sealer.seal(record.type, record.data, again);
    FUZZ_CHECK(again == frame);
    FUZZ_CHECK(sealer.seq() == opener.seq() && sealer.epoch() == opener.epoch());
  }
  return 0;
}

}  // namespace parley::fuzz
