// What a line typed in the interactive client means: a request for the server, help, or a
// mistake to point out. Pure code; the caller owns the state (the current room).
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "parley/request.hpp"

namespace parley::client {

struct SendRequest {
  req::Body body;
};
struct ShowHelp {};
struct InputError {
  std::string message;
};
struct NothingToDo {};  // an empty line

using Command = std::variant<SendRequest, ShowHelp, InputError, NothingToDo>;

// A plain line is a `say` to current_room (empty: not in a room, an InputError). A line that
// starts with "//" is a plain line starting with "/". Commands: /nick NICK, /join ROOM,
// /part [ROOM], /msg NICK TEXT, /who [ROOM], /rooms, /quit [REASON], /help.
Command parse_input(std::string_view line, std::string_view current_room);

// The /help text, one command per line.
std::string_view help_text();

}  // namespace parley::client
