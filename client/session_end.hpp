// How a session ended, in every mode: the exit code, a cause a script can match and the words
// a person reads. Only a close record from the server is "closed" (exit 6); a connection that
// ended without one, or that the server broke, was lost (exit 3). Pure code.
#pragma once

#include <optional>
#include <string>

#include "channel.hpp"
#include "exit_codes.hpp"

namespace parley::client {

struct SessionEnd {
  Exit exit = Exit::ok;
  // "closed" (the server's close record), "lost" (EOF or reset without one), "protocol_error",
  // "refused" (the server refused one of our requests), "input" (our own input could not be
  // sent), "signal" (SIGINT or SIGTERM).
  std::string cause;
  std::string message;               // plain words, already sanitized
  std::optional<CloseRecord> close;  // for "closed": the server's code and reason
};

// For anything receive() returns but an event.
SessionEnd session_end_of(const Received& received);

}  // namespace parley::client
