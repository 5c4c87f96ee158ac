#include "listen_line.hpp"

#include <nlohmann/json.hpp>

#include "parley/status.hpp"

namespace parley::client {

std::string listen_line(const evt::Event& event) {
  return evt::serialize(event, evt::JsonText::ascii) + '\n';
}

bool listen_shows(const evt::Event& event, bool raw) {
  if (raw) return true;
  return !std::holds_alternative<evt::Ping>(event) && !std::holds_alternative<evt::Pong>(event) &&
         !std::holds_alternative<evt::Ack>(event);
}

namespace {
std::string dump(const nlohmann::ordered_json& out) {
  return out.dump(-1, ' ', /*ensure_ascii=*/true,
                  nlohmann::ordered_json::error_handler_t::replace) +
         '\n';
}
}  // namespace

std::string listen_reconnecting_line(const SessionEnd& end, std::int64_t in_ms) {
  return dump(
      {{"type", "reconnecting"}, {"cause", end.cause}, {"message", end.message}, {"in_ms", in_ms}});
}

std::string listen_end_line(const SessionEnd& end) {
  nlohmann::ordered_json out = {{"type", "session_end"},
                                {"cause", end.cause},
                                {"exit", to_int(end.exit)},
                                {"message", end.message}};
  if (end.close) {
    out["code"] = std::string(name_of(end.close->code));
    out["reason"] = end.close->reason;
  }
  return dump(out);
}

}  // namespace parley::client
