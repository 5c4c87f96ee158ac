#include "welcome_limits.hpp"

#include "parley/frame.hpp"

namespace parley::client {

std::optional<std::string> welcome_limits_problem(const evt::Welcome& welcome) {
  if (welcome.max_frame > kMaxConfigurableFrame)
    return "the server announced max_frame " + std::to_string(welcome.max_frame) +
           ", more than the " + std::to_string(kMaxConfigurableFrame) +
           " bytes any server may use; not connecting";
  if (welcome.max_message_bytes > welcome.max_frame)
    return "the server announced max_message_bytes " + std::to_string(welcome.max_message_bytes) +
           ", more than its max_frame " + std::to_string(welcome.max_frame) + "; not connecting";
  return std::nullopt;
}

}  // namespace parley::client
