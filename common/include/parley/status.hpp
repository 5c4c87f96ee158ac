// The numeric codes shared by Error frames (handshake) and close records.
#pragma once

#include <cstdint>
#include <string_view>

namespace parley {

enum class StatusCode : std::uint16_t {
  normal = 0,  // close only
  bad_message = 1,
  bad_version = 2,
  key_digest_mismatch = 3,
  bad_key = 4,
  no_common_suite = 5,
  server_full = 6,
  timeout = 7,
  auth_failed = 8,
  internal = 9,
  policy = 10,    // close only: flooding, slow consumer
  replaced = 11,  // close only (6.8): a session with the same key took this one's place (6.9)
  kicked = 12,    // close only (6.8): ended by the operator
};

// The protocol's snake_case name ("bad_message"), or "unknown" for a code we do not know.
std::string_view name_of(StatusCode code);

}  // namespace parley
