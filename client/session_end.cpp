#include "session_end.hpp"

#include "render.hpp"

namespace parley::client {

SessionEnd session_end_of(const Received& received) {
  if (const auto* closed = std::get_if<SessionClosed>(&received))
    return {Exit::closed, "closed", describe_close(closed->close.code, closed->close.reason),
            closed->close};
  if (const auto* violation = std::get_if<ProtocolViolation>(&received))
    return {Exit::connect, "protocol_error",
            "connection broken: protocol error: " + sanitize(violation->what), std::nullopt};
  if (const auto* lost = std::get_if<ConnectionLost>(&received))
    return {Exit::connect, "lost", sanitize(lost->what), std::nullopt};
  return {Exit::failure, "bug", "an event is not the end of a session", std::nullopt};
}

}  // namespace parley::client
