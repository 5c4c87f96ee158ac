// parleyctl's pure parts: what a reply means as an exit status, and how it reads as a table.
// No sockets: main.cpp connects, sends the request line and hands the reply line here.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "control_protocol.hpp"

namespace parley::ctl {

// The exit statuses, as parleyctl(8) documents them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;    // the server answered: could not, or would not
inline constexpr int kExitUsage = 2;      // bad command line
inline constexpr int kExitNoServer = 3;   // no server at the socket, or no (valid) reply
inline constexpr int kExitForbidden = 4;  // not allowed: the socket's permissions or the server

// The exit status a reply earns: 0 for {"ok":true}, 4 for a `forbidden` refusal, else 1.
int exit_status(const nlohmann::json& reply);

// "45s", "12m03s", "3h07m", "2d04h": short and sortable by eye.
std::string format_duration(std::uint64_t seconds);

// Bytes the server sent, made safe for a terminal: control characters (C0, DEL) become '?'.
std::string printable(std::string_view text);

// The reply as people read it: a table for listings, a line for actions, "error: ..." for a
// refusal. Ends with a newline.
std::string render(server::ControlVerb verb, const nlohmann::json& reply,
                   std::int64_t now_unix_seconds);

}  // namespace parley::ctl
