// The cipher suites of PROTOCOL.md 2.7 and their per-key volume limits (3.2, 3.2a).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace parley {

enum class SuiteId : std::uint16_t {
  aes_256_gcm = 0x0001,
  chacha20_poly1305 = 0x0002,
  idea_ctr_hmac_sha256 = 0x0003,
};

struct SuiteInfo {
  SuiteId id;
  std::string_view name;  // the protocol's name, e.g. "AES-256-GCM"
  std::size_t key_len;
  std::size_t iv_len;
  std::size_t tag_len;  // bytes a record body adds to its plaintext
  bool aead;
  // A sender updates its keys before either limit is reached (records and
  // plaintext bytes under one key, the key_update itself included).
  std::uint64_t max_records_per_key;
  std::uint64_t max_bytes_per_key;
  // Receivers refuse a record whose seq would reach this: the nonce or counter would repeat.
  std::uint64_t seq_limit;
};

std::span<const SuiteInfo> all_suites();
const SuiteInfo* find_suite(std::uint16_t id);
const SuiteInfo* find_suite(std::string_view name);
const SuiteInfo& suite_info(SuiteId id);

}  // namespace parley
