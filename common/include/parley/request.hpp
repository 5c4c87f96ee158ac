// Application messages, client -> server (PROTOCOL.md 4), and the vocabulary both directions
// share: request ids and error codes. Pure code: JSON text in, typed structs out, and back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace parley {

// Absent, integer or string. Any other JSON type on a request is treated as absent, so the
// reply simply carries no id rather than the request failing over it.
using RequestId = std::variant<std::monostate, std::int64_t, std::string>;

// The `code` of an error message; clients act on these, never on the human `message`.
enum class ErrorCode {
  bad_request,
  unknown_type,
  bad_name,
  nick_taken,
  nick_reserved,
  not_member,
  no_such_nick,
  too_long,
  rate_limited,
  unavailable,  // 6.8: the server cannot serve this request now
};

// The wire spelling ("bad_request").
std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> error_code_from_string(std::string_view name);

}  // namespace parley

namespace parley::req {

inline constexpr std::size_t kMaxQuitReasonBytes = 256;

struct Nick {
  std::string nick;
  // 6.9: take the nick back from another session authenticated with the same key (a ghost).
  bool takeover = false;
  bool operator==(const Nick&) const = default;
};
struct Join {
  std::string room;
  bool operator==(const Join&) const = default;
};
struct Part {
  std::string room;
  bool operator==(const Part&) const = default;
};
// 6.3: `action` (/me) is relayed unchanged on the resulting event.
struct Say {
  std::string room;
  std::string text;
  bool action = false;
  bool operator==(const Say&) const = default;
};
struct Msg {
  std::string to;
  std::string text;
  bool action = false;
  bool operator==(const Msg&) const = default;
};
// Listings come in pages (PROTOCOL.md 6.5): `after` a name in the server's order, at most
// `limit` entries (the server caps it).
struct Who {
  std::string room;
  std::optional<std::string> after = std::nullopt;
  std::optional<std::uint64_t> limit = std::nullopt;
  bool operator==(const Who&) const = default;
};
struct Rooms {
  std::optional<std::string> after = std::nullopt;
  std::optional<std::uint64_t> limit = std::nullopt;
  bool operator==(const Rooms&) const = default;
};
// 6.4: a room's stored messages with seq > `after` (absent: the newest), at most `limit` (the
// server has a default and a cap).
struct History {
  std::string room;
  std::optional<std::uint64_t> after = std::nullopt;
  std::optional<std::uint64_t> limit = std::nullopt;
  bool operator==(const History&) const = default;
};
struct Ping {
  bool operator==(const Ping&) const = default;
};
struct Pong {
  bool operator==(const Pong&) const = default;
};
struct Quit {
  std::optional<std::string> reason;
  bool operator==(const Quit&) const = default;
};

using Body = std::variant<Nick, Join, Part, Say, Msg, Who, Rooms, History, Ping, Pong, Quit>;

struct Request {
  RequestId id;
  Body body;
  bool operator==(const Request&) const = default;
};

// The error reply a bad request earns. `message` is short and fixed per failure: it never
// quotes the input, so neither message text nor an attacker's bytes reach a reply or a log.
struct Rejection {
  ErrorCode code = ErrorCode::bad_request;
  std::string message;
  RequestId id;
  bool operator==(const Rejection&) const = default;
};

struct Limits {
  std::size_t max_message_bytes = 4096;  // of decoded `text`, in UTF-8 bytes
};

// The server's parser. Checks, in this order: JSON object (bad_request); id extracted, so
// every later rejection echoes it; type (unknown_type); every field present with the right
// JSON type (bad_request); names (bad_name); text empty (bad_request) or too long (too_long);
// quit reason too long (too_long). Unknown fields are ignored. Invalid UTF-8 and lone
// surrogate escapes anywhere in the input fail the JSON parse, hence bad_request.
// Total on any input: no exception other than std::bad_alloc, no recursion on nesting depth.
std::variant<Request, Rejection> parse(std::string_view json, const Limits& limits);

// The client's encoder: compact JSON, "type" first, then the fields, then "id" if present.
// Invalid UTF-8 in a field is replaced by U+FFFD rather than thrown over.
std::string serialize(const Request& request);

}  // namespace parley::req
