// The client's parser of application messages from the server (PROTOCOL.md 4), on any bytes a
// server might send. An event it accepts must survive the server's encoder: serialize() then
// parse() gives the same event back, and that encoding is canonical.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "parley/event.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto parsed = parley::evt::parse(json);
  if (auto* failure = std::get_if<parley::evt::ParseFailure>(&parsed)) {
    FUZZ_CHECK(!failure->what.empty());
    return 0;
  }
  // A type this client does not know (PROTOCOL.md 6.0) is ignored: it must not be one it knows.
  if (auto* unknown = std::get_if<parley::evt::UnknownEvent>(&parsed)) {
    for (const std::string_view known : {"welcome", "ack", "error", "message", "direct", "joined",
                                         "parted", "quit", "nick", "who", "rooms", "pong", "ping"})
      FUZZ_CHECK(unknown->type != known);
    return 0;
  }
  const auto& event = std::get<parley::evt::Event>(parsed);
  const std::string again = parley::evt::serialize(event);
  auto reparsed = parley::evt::parse(again);
  FUZZ_CHECK(std::holds_alternative<parley::evt::Event>(reparsed));
  FUZZ_CHECK(std::get<parley::evt::Event>(reparsed) == event);
  FUZZ_CHECK(parley::evt::serialize(std::get<parley::evt::Event>(reparsed)) == again);
  return 0;
}
