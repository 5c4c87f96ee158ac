#include "listen_line.hpp"

namespace parley::client {

std::string listen_line(const evt::Event& event) {
  return evt::serialize(event, evt::JsonText::ascii) + '\n';
}

}  // namespace parley::client
