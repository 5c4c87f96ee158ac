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
  // The additions of PROTOCOL.md section 6 the server implements (6.0).
  std::vector<std::string> features = {};
  bool operator==(const Welcome&) const = default;
};
struct Ack {
  RequestId id;  // required on the wire: an ack exists only to answer a request's id
  // 6.1: a say's ack carries the seq its message got, a join's the room's last seq; parleyd's
  // part ack carries the room's last seq too (the last message the member was sent).
  std::optional<std::uint64_t> seq = std::nullopt;
  bool operator==(const Ack&) const = default;
};
struct Error {
  ErrorCode code = ErrorCode::bad_request;
  std::string message;
  RequestId id;
  // A code this side does not know, as the server spelled it (PROTOCOL.md 6.0: a generic failure
  // of the request; `code` then means nothing). Unset for a known code; our server never sets it.
  std::optional<std::string> unknown_code = std::nullopt;
  bool operator==(const Error&) const = default;
};
struct Message {
  std::string room;
  std::string from;
  std::string text;
  std::string ts;  // format_timestamp()
  std::uint64_t seq = 0;
  bool action = false;  // 6.3: the sender's /me, on the wire only when true
  bool replay = false;  // 6.4: part of a history reply, on the wire only when true
  bool operator==(const Message&) const = default;
};
struct Direct {
  std::string from;
  std::string text;
  std::string ts;
  bool action = false;  // 6.3
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
  // Set when the page stopped early (6.5): ask again with `after` = next for the rest.
  std::optional<std::string> next = std::nullopt;
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
  std::optional<std::string> next = std::nullopt;  // as in Who
  bool operator==(const Rooms&) const = default;
};
struct Pong {
  RequestId id;
  bool operator==(const Pong&) const = default;
};
struct Ping {
  bool operator==(const Ping&) const = default;
};
// 6.4: the end of a history reply. more: stored messages remain after the last one sent (ask
// again with `after` = its seq); complete: nothing after the request's `after` was evicted.
struct HistoryEnd {
  std::string room;
  bool more = false;
  bool complete = false;
  RequestId id;
  bool operator==(const HistoryEnd&) const = default;
};
// 6.7: the server is about to close (shutdown or drain); reconnect no sooner than this.
struct GoAway {
  std::string reason;
  std::uint64_t reconnect_after_ms = 0;
  bool operator==(const GoAway&) const = default;
};

// 6.6: words from the operator, to everyone or to the members of one room.
struct Notice {
  std::string text;
  std::optional<std::string> room = std::nullopt;
  bool operator==(const Notice&) const = default;
};

using Event = std::variant<Welcome, Ack, Error, Message, Direct, Joined, Parted, Quit, NickChanged,
                           Who, Rooms, Pong, Ping, GoAway, HistoryEnd, Notice>;

// How serialize() writes characters outside ASCII.
enum class JsonText {
  utf8,   // as they are: the wire form
  ascii,  // DEL and everything above it as \uXXXX escapes, so the text holds no DEL, C1 or bidi
          // control for a terminal to act on (the client's --listen output)
};

// Compact JSON on one line (control characters in strings are always escaped), "type" first,
// then the fields in the order of the PROTOCOL.md table; an absent id or reason is omitted. A
// whole `rate` is written as an integer ("rate":10, not 10.0). Invalid UTF-8 in a string is
// replaced by U+FFFD rather than thrown over: the server must not lose a session to a
// serializer exception.
std::string serialize(const Event& event, JsonText text = JsonText::utf8);

struct ParseFailure {
  std::string what;
  bool operator==(const ParseFailure&) const = default;
};

// A well-formed event of a type this side does not know: a later server's addition, which a
// client ignores (PROTOCOL.md 6.0) instead of ending the session over it.
struct UnknownEvent {
  std::string type;  // as the server sent it: peer-supplied, sanitize before showing it
  bool operator==(const UnknownEvent&) const = default;
};

// The client's parser. Strict about the types it knows: a missing field or a field of the wrong
// JSON type (including a negative or fractional integer field, an id that is neither integer
// nor string) is a failure, and so is a document without a string `type`. Forward compatible
// about the rest (PROTOCOL.md 6.0): unknown fields are ignored, an unknown type is an
// UnknownEvent, and an unknown error code is kept in Error::unknown_code. Total on any input:
// no exception other than std::bad_alloc, no recursion on nesting depth.
std::variant<Event, UnknownEvent, ParseFailure> parse(std::string_view json);

}  // namespace parley::evt
