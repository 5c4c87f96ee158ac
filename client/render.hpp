// How the interactive client shows what happens: one line of text per event, with local
// timestamps and, on a colour terminal, a stable colour per nick. Pure code.
//
// Everything a peer wrote passes through sanitize() (sanitize.hpp) first.
#pragma once

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/event.hpp"
#include "parley/request.hpp"
#include "parley/status.hpp"
#include "sanitize.hpp"

namespace parley::client {

// The colours of the nicks in view. A nick keeps its colour while it is around; one seen for the
// first time gets the colour its name hashes to, unless a nick in view has that one already:
// then the next free one. Only when every colour of the palette is taken do two nicks share.
class NickColours {
 public:
  static constexpr std::size_t kMaxRemembered = 4096;
  // The palette index for `nick` (assigned now if it has none).
  std::size_t of(std::string_view nick);
  // `nick` has left every room we share: its colour is free again.
  void forget(std::string_view nick);
  void rename(std::string_view old_nick, std::string_view new_nick);

 private:
  std::map<std::string, std::size_t> assigned_;  // folded nick -> palette index
};

struct RenderContext {
  bool colour = false;
  std::string current_room;             // messages from other rooms are tagged with their room
  std::string clock;                    // HH:MM:SS for events that carry no timestamp
  std::uint64_t max_message_bytes = 0;  // from the welcome, for the too_long explanation
  bool tag_every_room = false;          // in several rooms: every room line names its room
  std::string own_nick;                 // lines that mention it are highlighted
  std::vector<std::string> joined;      // folded names of the rooms the user is in (/rooms)
  NickColours* nick_colours = nullptr;  // when set, nicks in view get distinct colours
};

// "HH:MM:SS" in local time ("--:--:--" if the time cannot be converted).
std::string clock_of(std::time_t when);

// "HH:MM:SS" in local time for an RFC 3339 UTC timestamp ("2026-11-23T10:00:00.000Z"), or the
// text itself (sanitized) when it is not one.
std::string local_clock(std::string_view rfc3339);

// `text` names `nick` as a word of its own (any case): "bob: hi", "hi Bob!", not "bobby".
bool mentions(std::string_view text, std::string_view nick);

// The nick with its colour codes when `colour`: one of 24 colours of the 256-colour palette
// that read well on dark and light backgrounds, chosen by the folded nick, or by `colours`.
std::string paint_nick(std::string_view nick, bool colour, NickColours* colours = nullptr);

// The line for an event, or nullopt for those the user does not need to see (ack, pong, ping).
std::optional<std::string> render_event(const evt::Event& event, const RenderContext& ctx);

// Our own lines, shown as we send them (the server does not echo them back).
std::string render_own_say(std::string_view room, std::string_view nick, std::string_view text,
                           const RenderContext& ctx, bool action = false);
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
