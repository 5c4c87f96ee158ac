// How the interactive client shows what happens: one line of text per event, with local
// timestamps and, on a colour terminal, a stable colour per nick. Pure code.
//
// Everything a peer wrote passes through sanitize() (sanitize.hpp) first.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "parley/event.hpp"
#include "parley/request.hpp"
#include "parley/status.hpp"
#include "sanitize.hpp"

namespace parley::client {

struct RenderContext {
  bool colour = false;
  std::string current_room;             // messages from other rooms are tagged with their room
  std::string clock;                    // HH:MM:SS for events that carry no timestamp
  std::uint64_t max_message_bytes = 0;  // from the welcome, for the too_long explanation
};

// "HH:MM:SS" in local time ("--:--:--" if the time cannot be converted).
std::string clock_of(std::time_t when);

// "HH:MM:SS" in local time for an RFC 3339 UTC timestamp ("2026-11-23T10:00:00.000Z"), or the
// text itself (sanitized) when it is not one.
std::string local_clock(std::string_view rfc3339);

// The nick with its colour codes when ctx.colour.
std::string paint_nick(std::string_view nick, bool colour);

// The line for an event, or nullopt for those the user does not need to see (ack, pong, ping).
std::optional<std::string> render_event(const evt::Event& event, const RenderContext& ctx);

// Our own lines, shown as we send them (the server does not echo them back).
std::string render_own_say(std::string_view room, std::string_view nick, std::string_view text,
                           const RenderContext& ctx);
std::string render_own_msg(std::string_view to, std::string_view text, const RenderContext& ctx);

// A server error in plain words, for people (the code stays in parentheses for bug reports).
std::string describe_error(const evt::Error& error, std::uint64_t max_message_bytes);

// Why the server ended the session, in plain words.
std::string describe_close(StatusCode code, std::string_view reason);

// What a refused request tried to do, to follow "cannot ": "take the nick bob", "send your
// message to nobody", "join #ops".
std::string refused_request(const req::Body& body);

// What to do when the server refused our identity (close auth_failed during the handshake):
// for an anonymous client, that the server wants an authorized key and how to make one; for a
// client that signed with a key, that this key (`identity_fingerprint`) is not authorized.
std::string auth_failed_advice(std::string_view identity_fingerprint);

}  // namespace parley::client
