#include "commands.hpp"

#include <algorithm>

#include "text.hpp"

namespace parley::client {
namespace {

// Splits off the first blank-separated word.
std::pair<std::string_view, std::string_view> next_word(std::string_view s) {
  s = trim_blanks(s);
  const auto end = s.find_first_of(" \t");
  if (end == std::string_view::npos) return {s, {}};
  return {s.substr(0, end), trim_blanks(s.substr(end))};
}

InputError usage(std::string_view text) {
  return InputError{"usage: " + std::string(text)};
}

Command one_name(std::string_view args, std::string_view usage_text, auto make) {
  auto [name, rest] = next_word(args);
  if (name.empty() || !rest.empty()) return usage(usage_text);
  return SendRequest{make(std::string(name))};
}

Command room_or_current(std::string_view args, std::string_view current_room,
                        std::string_view usage_text, auto make) {
  auto [room, rest] = next_word(args);
  if (!rest.empty()) return usage(usage_text);
  room = room_name(room);
  if (room.empty()) room = current_room;
  if (room.empty())
    return InputError{"you are not in a room: name one (" + std::string(usage_text) + ")"};
  return SendRequest{make(std::string(room))};
}

}  // namespace

std::string_view room_name(std::string_view typed) {
  if (typed.starts_with('#')) typed.remove_prefix(1);
  return typed;
}

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = {"/help",  "/ignore", "/join", "/me",
                                                 "/msg",   "/nick",   "/part", "/quit",
                                                 "/rooms", "/switch", "/who"};
  return names;
}

Command parse_input(std::string_view line, std::string_view current_room) {
  // Only the line's end is trimmed for text: leading blanks may be deliberate (indentation).
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  if (trim_blanks(line).empty()) return NothingToDo{};

  if (!line.starts_with('/') || line.starts_with("//")) {
    if (line.starts_with("//")) line.remove_prefix(1);
    if (current_room.empty())
      return InputError{"you are not in a room: /join ROOM first, or /msg NICK TEXT"};
    return SendRequest{req::Say{std::string(current_room), std::string(line)}};
  }

  auto [command, args] = next_word(line.substr(1));
  if (command == "nick")
    return one_name(args, "/nick NICK", [](std::string n) { return req::Nick{std::move(n)}; });
  if (command == "join") {
    auto [list, rest] = next_word(args);
    if (list.empty() || !rest.empty()) return usage("/join ROOM[,ROOM...]");
    JoinRooms join;
    for (std::size_t start = 0; start <= list.size();) {
      const auto comma = std::min(list.find(',', start), list.size());
      const std::string_view room = room_name(list.substr(start, comma - start));
      if (!room.empty()) join.rooms.emplace_back(room);
      start = comma + 1;
    }
    if (join.rooms.empty()) return usage("/join ROOM[,ROOM...]");
    return join;
  }
  if (command == "switch") {
    auto [room, rest] = next_word(args);
    room = room_name(room);
    if (room.empty() || !rest.empty()) return usage("/switch ROOM");
    return SwitchRoom{std::string(room)};
  }
  if (command == "ignore") {
    auto [nick, rest] = next_word(args);
    if (!rest.empty()) return usage("/ignore [NICK]");
    if (nick.empty()) return Ignore{};
    return Ignore{std::string(nick)};
  }
  if (command == "part")
    return room_or_current(args, current_room, "/part [ROOM]",
                           [](std::string r) { return req::Part{std::move(r)}; });
  if (command == "who")
    return room_or_current(args, current_room, "/who [ROOM]",
                           [](std::string r) { return req::Who{std::move(r)}; });
  if (command == "rooms") {
    if (!args.empty()) return usage("/rooms");
    return SendRequest{req::Rooms{}};
  }
  if (command == "me") {
    if (trim_blanks(args).empty()) return usage("/me ACTION");
    if (current_room.empty())
      return InputError{"you are not in a room: /join ROOM first, or /msg NICK TEXT"};
    return SendRequest{req::Say{std::string(current_room), std::string(args), true}};
  }
  if (command == "msg") {
    auto [to, text] = next_word(args);
    if (to.empty() || text.empty()) return usage("/msg NICK TEXT");
    return SendRequest{req::Msg{std::string(to), std::string(text)}};
  }
  if (command == "quit") {
    req::Quit quit;
    if (!args.empty()) quit.reason = std::string(args);
    return SendRequest{std::move(quit)};
  }
  if (command == "help") return ShowHelp{};
  return InputError{"unknown command /" + std::string(command) + " (try /help)"};
}

std::string_view help_text() {
  return "Commands:\n"
         "  /join ROOM[,ROOM]  join rooms (created if new); the last becomes the current room\n"
         "  /part [ROOM]      leave ROOM (default: the current room)\n"
         "  /switch ROOM      talk in ROOM from now on (also Alt-1..9, Alt-Left/Right)\n"
         "  /msg NICK TEXT    send TEXT to NICK alone\n"
         "  /me ACTION        an action in the current room (/me waves: * alice waves)\n"
         "  /nick NICK        change your nick\n"
         "  /who [ROOM]       list the members of ROOM (default: the current room)\n"
         "  /rooms            list the rooms and their member counts (* marks yours)\n"
         "  /ignore [NICK]    hide NICK's lines for this session (alone: list who is hidden)\n"
         "  /quit [REASON]    leave (Ctrl-D does the same)\n"
         "  /help             this text\n"
         "Anything else is said to the current room; start a line with // to say one that\n"
         "begins with /. Keys as in bash: Ctrl-R searches what you typed before, Tab completes\n"
         "nicks, rooms and commands, Ctrl-C clears the line (twice on an empty line: leave).\n";
}

}  // namespace parley::client
