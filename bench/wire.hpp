// The few pieces of MQTT 3.1.1, core NATS and IRC that the load generator speaks, as pure
// code over bytes (encoders append to a buffer, parsers look at the front of one), plus the
// stamp every benchmark message carries. Only what a chat-style fan-out needs: connect,
// subscribe or join, publish, keepalive. Nothing here is a general client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/bytes.hpp"

namespace parley::bench {

enum class ParseStatus { ok, incomplete, malformed };

// The text of every fan-out message: "<publisher> <seq> <send_ns> " padded with 'x' to at
// least `size` bytes. Plain ASCII, so no protocol needs to escape it (JSON, IRC, MQTT, NATS).
struct Stamp {
  std::uint32_t publisher = 0;
  std::uint64_t seq = 0;
  std::int64_t send_ns = 0;  // steady_clock, nanoseconds since its epoch
  bool operator==(const Stamp&) const = default;
};
// Writes into `text` (reusing its capacity).
void make_text(const Stamp& stamp, std::size_t size, std::string& text);
std::optional<Stamp> parse_text(std::string_view text);

namespace mqtt {

// CONNECT for MQTT 3.1.1 with a clean session; keepalive 0 turns the server's keepalive off.
void connect(Bytes& out, std::string_view client_id, std::uint16_t keepalive_s = 0);
// SUBSCRIBE to one topic at QoS 0.
void subscribe(Bytes& out, std::uint16_t packet_id, std::string_view topic);
// PUBLISH at QoS 0 (no packet id, no retain).
void publish(Bytes& out, std::string_view topic, std::string_view payload);
void pingreq(Bytes& out);
void disconnect(Bytes& out);

enum class Type : std::uint8_t {
  connack = 2,
  publish = 3,
  suback = 9,
  pingresp = 13,
};

struct Packet {
  std::uint8_t type = 0;   // high nibble of the fixed header
  std::uint8_t flags = 0;  // low nibble
  ByteView body;           // after the remaining-length field
};

// The packet at the front of data; `used` is its whole size. Remaining lengths above
// 4 bytes of varint, or above max_size, are malformed.
ParseStatus next_packet(ByteView data, Packet& packet, std::size_t& used,
                        std::size_t max_size = 1 << 20);

struct Publish {
  std::string_view topic;
  std::string_view payload;
};
// A PUBLISH body; QoS 1 and 2 carry a packet id after the topic, which is skipped.
std::optional<Publish> parse_publish(const Packet& packet);

}  // namespace mqtt

namespace nats {

// CONNECT with verbose and pedantic off and echo off (no copy of our own messages).
void connect(Bytes& out, std::string_view name);
void sub(Bytes& out, std::string_view subject, std::uint32_t sid);
void pub(Bytes& out, std::string_view subject, std::string_view payload);
void ping(Bytes& out);
void pong(Bytes& out);

enum class Kind { info, msg, ping, pong, ok, err, other };

struct Op {
  Kind kind = Kind::other;
  std::string_view line;     // the control line without CRLF
  std::string_view subject;  // MSG only
  std::string_view payload;  // MSG only
};

// The operation at the front of data (a control line, and for MSG its payload and CRLF).
ParseStatus next_op(ByteView data, Op& op, std::size_t& used, std::size_t max_line = 4096);

}  // namespace nats

namespace irc {

void nick_user(Bytes& out, std::string_view nick);
void join(Bytes& out, std::string_view channel);
void privmsg(Bytes& out, std::string_view target, std::string_view text);
void pong(Bytes& out, std::string_view token);
void quit(Bytes& out);

struct Message {
  std::string_view prefix;               // without the ':'
  std::string_view command;              // "PRIVMSG", "001", ...
  std::vector<std::string_view> params;  // the trailing parameter last, without its ':'
};

// One line (up to CRLF or LF) at the front of data; `line` excludes the terminator.
ParseStatus next_line(ByteView data, std::string_view& line, std::size_t& used,
                      std::size_t max_line = 8192);
Message parse(std::string_view line);

}  // namespace irc

}  // namespace parley::bench
