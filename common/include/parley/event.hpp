// Application messages, server -> client (PROTOCOL.md 4). The server serializes these; the
// client parses them strictly, since a server that sends a malformed event is broken and
// guessing at what it meant would only hide that.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/request.hpp"  // RequestId, ErrorCode

namespace parley::evt {

struct Welcome {
  std::string session;
  std::string nick;  // assigned, e.g. "guest-4f2a"
  std::string server;
  std::uint64_t max_frame = 0;
  std::uint64_t max_message_bytes = 0;
  std::string suite;  // the suite's name, e.g. "AES-256-GCM"
  // Requests per second a session may sustain (may be fractional), and how many it may send at
  // once. Our server always sends both; the protocol's own vectors predate them, so a client
  // treats them as optional and paces conservatively without them.
  std::optional<double> rate;
  std::optional<std::uint64_t> burst;
  bool operator==(const Welcome&) const = default;
};
struct Ack {
  RequestId id;  // required on the wire: an ack exists only to answer a request's id
  bool operator==(const Ack&) const = default;
};
struct Error {
  ErrorCode code = ErrorCode::bad_request;
  std::string message;
  RequestId id;
  bool operator==(const Error&) const = default;
};
struct Message {
  std::string room;
  std::string from;
  std::string text;
  std::string ts;  // format_timestamp()
  std::uint64_t seq = 0;
  bool operator==(const Message&) const = default;
};
struct Direct {
  std::string from;
  std::string text;
  std::string ts;
  bool operator==(const Direct&) const = default;
};
struct Joined {
  std::string room;
  std::string nick;
  bool operator==(const Joined&) const = default;
};
struct Parted {
  std::string room;
  std::string nick;
  bool operator==(const Parted&) const = default;
};
struct Quit {
  std::string nick;
  std::optional<std::string> reason;
  bool operator==(const Quit&) const = default;
};
// Wire type "nick", fields "old" and "new" (a keyword, hence the C++ names).
struct NickChanged {
  std::string old_nick;
  std::string new_nick;
  bool operator==(const NickChanged&) const = default;
};
struct Who {
  std::string room;
  std::vector<std::string> nicks;
  RequestId id;
  bool operator==(const Who&) const = default;
};
struct RoomInfo {
  std::string name;
  std::uint64_t members = 0;
  bool operator==(const RoomInfo&) const = default;
};
struct Rooms {
  std::vector<RoomInfo> rooms;
  RequestId id;
  bool operator==(const Rooms&) const = default;
};
struct Pong {
  RequestId id;
  bool operator==(const Pong&) const = default;
};
struct Ping {
  bool operator==(const Ping&) const = default;
};

using Event = std::variant<Welcome, Ack, Error, Message, Direct, Joined, Parted, Quit, NickChanged,
                           Who, Rooms, Pong, Ping>;

// Compact JSON, "type" first, then the fields in the order of the PROTOCOL.md table; an absent
// id or reason is omitted. A whole `rate` is written as an integer ("rate":10, not 10.0).
// Invalid UTF-8 in a string is replaced by U+FFFD rather than thrown over: the server must
// not lose a session to a serializer exception.
std::string serialize(const Event& event);

struct ParseFailure {
  std::string what;
  bool operator==(const ParseFailure&) const = default;
};

// The client's parser. Strict: a missing field, a field of the wrong JSON type (including a
// negative or fractional integer field, an id that is neither integer nor string, an unknown
// error code) or an unknown type is a failure. Unknown fields are ignored. Total on any input:
// no exception other than std::bad_alloc, no recursion on nesting depth.
std::variant<Event, ParseFailure> parse(std::string_view json);

}  // namespace parley::evt
