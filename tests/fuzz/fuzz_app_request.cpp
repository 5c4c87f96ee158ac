// The server's parser of application messages (PROTOCOL.md 4), on any bytes a client might
// send in an app record. A request it accepts must survive the client's encoder: serialize()
// then parse() gives the same request back. A rejection names a known code and a fixed message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "parley/request.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  // A small limit as well as the default, so too_long is as reachable as acceptance.
  for (std::size_t max : {std::size_t{8}, std::size_t{4096}}) {
    const parley::req::Limits limits{max};
    auto parsed = parley::req::parse(json, limits);
    if (auto* rejection = std::get_if<parley::req::Rejection>(&parsed)) {
      FUZZ_CHECK(parley::error_code_from_string(parley::to_string(rejection->code)) ==
                 rejection->code);
      FUZZ_CHECK(!rejection->message.empty());
      continue;
    }
    const auto& request = std::get<parley::req::Request>(parsed);
    const std::string again = parley::req::serialize(request);
    auto reparsed = parley::req::parse(again, limits);
    FUZZ_CHECK(std::holds_alternative<parley::req::Request>(reparsed));
    FUZZ_CHECK(std::get<parley::req::Request>(reparsed) == request);
    // And the encoding is canonical: encoding the reparsed request changes nothing.
    FUZZ_CHECK(parley::req::serialize(std::get<parley::req::Request>(reparsed)) == again);
  }
  return 0;
}
