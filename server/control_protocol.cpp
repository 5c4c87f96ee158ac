#include "control_protocol.hpp"

#include <array>
#include <utility>

#include "parley/names.hpp"

namespace parley::server {
namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<std::string_view, ControlVerb>, 8> kVerbs = {{
    {"status", ControlVerb::status},
    {"sessions", ControlVerb::sessions},
    {"kick", ControlVerb::kick},
    {"ban", ControlVerb::ban},
    {"unban", ControlVerb::unban},
    {"bans", ControlVerb::bans},
    {"notice", ControlVerb::notice},
    {"drain", ControlVerb::drain},
}};

std::string_view verb_name(ControlVerb verb) {
  for (const auto& [name, v] : kVerbs)
    if (v == verb) return name;
  return "status";
}

ControlError bad(std::string message) {
  return ControlError{control_code::kBadRequest, std::move(message)};
}

// A string field: required (absent is an error) or optional (absent is nullopt).
struct Fields {
  const json& object;
  std::optional<ControlError> error;

  std::optional<std::string> optional(const char* name) {
    const auto it = object.find(name);
    if (it == object.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) {
      if (!error) error = bad(std::string("\"") + name + "\" must be a string");
      return std::nullopt;
    }
    return it->get<std::string>();
  }
  std::string required(const char* name) {
    auto value = optional(name);
    if (!value && !error) error = bad(std::string("\"") + name + "\" is required");
    return value.value_or("");
  }
};

}  // namespace

std::optional<std::string> check_operator_text(std::string_view text, std::size_t max_bytes) {
  if (text.empty()) return "text must not be empty";
  if (text.size() > max_bytes) return "text is longer than " + std::to_string(max_bytes) + " bytes";
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return "text must not contain control characters";
  return std::nullopt;
}

std::variant<ControlRequest, ControlError> parse_control_request(std::string_view line) {
  if (line.size() > kMaxControlRequestBytes) return bad("request too long");
  const json doc = json::parse(line, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("expected one JSON object");
  Fields fields{doc, std::nullopt};
  const std::string verb = fields.required("verb");
  if (fields.error) return *fields.error;
  ControlRequest r;
  bool known = false;
  for (const auto& [name, v] : kVerbs)
    if (verb == name) {
      r.verb = v;
      known = true;
    }
  if (!known) return bad("unknown verb");
  switch (r.verb) {
    case ControlVerb::kick:
      r.nick = fields.required("nick");
      r.reason = fields.optional("reason");
      if (fields.error) return *fields.error;
      if (!is_valid_name(r.nick)) return bad("not a nick: 1 to 32 of A-Z a-z 0-9 _ . -");
      if (r.reason) {
        if (auto why = check_operator_text(*r.reason, kMaxKickReasonBytes))
          return bad("reason: " + *why);
      }
      break;
    case ControlVerb::ban:
      r.target = fields.required("target");
      r.duration = fields.optional("duration");
      break;
    case ControlVerb::unban:
      r.target = fields.required("target");
      break;
    case ControlVerb::notice:
      r.text = fields.required("text");
      r.room = fields.optional("room");
      if (fields.error) return *fields.error;
      if (r.room && !is_valid_name(*r.room))
        return bad("not a room name: 1 to 32 of A-Z a-z 0-9 _ . -");
      break;
    case ControlVerb::status:
    case ControlVerb::sessions:
    case ControlVerb::bans:
    case ControlVerb::drain:
      break;
  }
  if (fields.error) return *fields.error;
  return r;
}

std::string serialize_control_request(const ControlRequest& r) {
  nlohmann::ordered_json j;
  j["verb"] = verb_name(r.verb);
  switch (r.verb) {
    case ControlVerb::kick:
      j["nick"] = r.nick;
      if (r.reason) j["reason"] = *r.reason;
      break;
    case ControlVerb::ban:
      j["target"] = r.target;
      if (r.duration) j["duration"] = *r.duration;
      break;
    case ControlVerb::unban:
      j["target"] = r.target;
      break;
    case ControlVerb::notice:
      j["text"] = r.text;
      if (r.room) j["room"] = *r.room;
      break;
    case ControlVerb::status:
    case ControlVerb::sessions:
    case ControlVerb::bans:
    case ControlVerb::drain:
      break;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string control_reply_ok(const nlohmann::ordered_json& data) {
  nlohmann::ordered_json reply{{"ok", true}};
  for (const auto& [key, value] : data.items())
    reply[key] = value;
  return reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string control_reply_error(const ControlError& error) {
  const nlohmann::ordered_json reply{{"ok", false}, {"code", error.code}, {"error", error.message}};
  return reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace parley::server
