// Nick and room names (PROTOCOL.md 4) and the wire timestamp format. Pure functions: the
// caller passes the time in, so nothing here reads a clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace parley {

inline constexpr std::size_t kMaxNameBytes = 32;

// Exactly 1..32 bytes, each from [A-Za-z0-9_.-]. Byte-wise on purpose: anything outside
// ASCII is refused, so folding and comparing names never needs Unicode tables.
bool is_valid_name(std::string_view name);

// ASCII lowercase; other bytes pass through unchanged. Names compare case-insensitively, so
// use the folded form as the key of any map of nicks or rooms and keep the original for display.
std::string fold_name(std::string_view name);

// RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.123Z"), the `ts` of message and direct.
// Sub-millisecond precision is truncated toward the past, so a timestamp never runs ahead of
// the instant it describes.
std::string format_timestamp(std::chrono::system_clock::time_point when);

}  // namespace parley
