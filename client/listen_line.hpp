// What --listen prints for one event. Not the server's bytes: JSON allows CR and LF between
// tokens (one event would span lines, none of them valid JSON) and raw DEL, C1 and bidi
// characters inside strings (which a terminal or a log viewer acts on). So each event is written
// anew from what we parsed. Pure code.
#pragma once

#include <string>

#include "parley/event.hpp"
#include "session_end.hpp"

namespace parley::client {

// One compact JSON object in printable ASCII (anything else as \uXXXX escapes), then "\n":
// exactly one line, which any JSON parser reads back as the event. Fields this client does not
// know are not kept: it writes the event as it understood it.
std::string listen_line(const evt::Event& event);

// Whether --listen prints the event: not the session's bookkeeping (ping, pong, ack), which a
// script has no use for, unless --raw asks for everything.
bool listen_shows(const evt::Event& event, bool raw);

// The last line --listen prints, in the same form: {"type":"session_end","cause":...,"exit":N,
// "message":...} and, for a close record, its "code" and "reason". No server sends this type.
std::string listen_end_line(const SessionEnd& end);

// {"type":"reconnecting","cause":...,"message":...,"in_ms":N}: the session ended as `end` says
// and the next attempt to come back starts in `in_ms`.
std::string listen_reconnecting_line(const SessionEnd& end, std::int64_t in_ms);

}  // namespace parley::client
