// The admin socket's protocol (parleyctl(8)): one JSON object on one line each way. A request
// names a verb and its arguments; the reply is {"ok":true,...} or {"ok":false,"code":C,
// "error":E}. Pure code: text in, values out, so the socket layer (control_socket) holds no rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace parley::server {

// A request line is short; a reply may list every session, so it gets more room.
inline constexpr std::size_t kMaxControlRequestBytes = 64 * 1024;
// An operator's kick reason: what a quit reason may be (PROTOCOL.md 4).
inline constexpr std::size_t kMaxKickReasonBytes = 256;

enum class ControlVerb { status, sessions, kick, ban, unban, bans, notice, drain };

struct ControlRequest {
  ControlVerb verb = ControlVerb::status;
  std::string nick;                     // kick
  std::optional<std::string> reason;    // kick
  std::string target;                   // ban, unban: an address or a SHA256: fingerprint
  std::optional<std::string> duration;  // ban: "90s", "15m", "2h", "7d" (parse_duration)
  std::string text;                     // notice
  std::optional<std::string> room;      // notice
  bool operator==(const ControlRequest&) const = default;
};

// The reply's error codes: what parleyctl turns into its exit status.
namespace control_code {
inline constexpr std::string_view kBadRequest = "bad_request";  // malformed or invalid arguments
inline constexpr std::string_view kNotFound = "not_found";      // no such nick, room or ban
inline constexpr std::string_view kForbidden = "forbidden";     // peer credentials refused
inline constexpr std::string_view kFailed = "failed";           // the server could not do it
}  // namespace control_code

struct ControlError {
  std::string_view code;
  std::string message;
};

// One request line (without its newline). Checks the JSON shape, the verb, the arguments'
// types, and the rules that need no server state: names, a kick reason's length and
// characters. Notice text is checked by check_operator_text with the configured limit.
std::variant<ControlRequest, ControlError> parse_control_request(std::string_view line);

// Operator text sent to clients (notice text, kick reason): not empty, at most `max_bytes`, no
// control characters (C0, DEL); valid UTF-8 is the JSON parser's part. nullopt when fine.
std::optional<std::string> check_operator_text(std::string_view text, std::size_t max_bytes);

// The request as a line, for parleyctl (the inverse of parse_control_request).
std::string serialize_control_request(const ControlRequest& request);

// {"ok":true} plus the fields of `data` (an object), or {"ok":false,"code":...,"error":...}, as
// one line with a newline. Invalid UTF-8 in strings is replaced, never thrown over.
std::string control_reply_ok(const nlohmann::ordered_json& data);
std::string control_reply_error(const ControlError& error);

}  // namespace parley::server
