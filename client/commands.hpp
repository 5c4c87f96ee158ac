// What a line typed in the interactive client means: a request for the server, help, or a
// mistake to point out. Pure code; the caller owns the state (the current room).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/request.hpp"

namespace parley::client {

struct SendRequest {
  req::Body body;
};
// /join a,b,c: rooms joined one after the other (the last becomes the current room).
struct JoinRooms {
  std::vector<std::string> rooms;
};
// /switch ROOM (a room the user is in): talk there from now on. Local.
struct SwitchRoom {
  std::string room;
};
// /ignore [NICK]: hide NICK's lines for this session, or list who is ignored. Local.
struct Ignore {
  std::optional<std::string> nick;
};
struct ShowHelp {};
struct InputError {
  std::string message;
};
struct NothingToDo {};  // an empty line

using Command =
    std::variant<SendRequest, JoinRooms, SwitchRoom, Ignore, ShowHelp, InputError, NothingToDo>;

// A plain line is a `say` to current_room (empty: not in a room, an InputError). A line that
// starts with "//" is a plain line starting with "/". Commands: /nick NICK, /join ROOM[,ROOM...],
// /part [ROOM], /switch ROOM, /msg NICK TEXT, /who [ROOM], /rooms, /ignore [NICK],
// /quit [REASON], /help. A room may be written with a leading '#', as IRC users do.
Command parse_input(std::string_view line, std::string_view current_room);

// "#ops" -> "ops": the '#' people type out of IRC habit is not part of a room's name.
std::string_view room_name(std::string_view typed);

// The commands, for Tab completion ("/join", ...).
const std::vector<std::string>& command_names();

// The /help text, one command per line.
std::string_view help_text();

}  // namespace parley::client
