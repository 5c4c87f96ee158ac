// The welcome's limits are the client's too: it buffers whole frames up to max_frame, and pipe
// mode reads input lines of up to max_message_bytes. A server announcing more than any server
// may be configured with (4294967295 has been seen) would make those buffers unbounded, so such
// a welcome ends the handshake instead. Pure code.
#pragma once

#include <optional>
#include <string>

#include "parley/event.hpp"

namespace parley::client {

// Why the welcome's limits are unacceptable, or nullopt when they are fine: max_frame at most
// kMaxConfigurableFrame (parley/frame.hpp, the bound of parleyd's own config), and
// max_message_bytes at most max_frame (a message must fit a frame).
std::optional<std::string> welcome_limits_problem(const evt::Welcome& welcome);

}  // namespace parley::client
