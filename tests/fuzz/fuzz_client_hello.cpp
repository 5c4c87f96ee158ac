// The ClientHello parser (PROTOCOL.md 2.1, 2.2 checks 1a-1c). It is strict, so whatever it
// accepts must encode back to exactly the input; what it refuses gets bad_message, or
// bad_version for a well-formed header with another version.
#include <cstddef>
#include <cstdint>
#include <variant>

#include "parley/hello.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const parley::ByteView body(data, size);
  auto parsed = parley::parse_client_hello(body);
  if (auto* code = std::get_if<parley::StatusCode>(&parsed)) {
    FUZZ_CHECK(*code == parley::StatusCode::bad_message ||
               *code == parley::StatusCode::bad_version);
    if (*code == parley::StatusCode::bad_version) {
      // Type, magic and a version field were all there: 1 + 4 + 2 bytes at least.
      FUZZ_CHECK(size >= 7 && data[0] == parley::kClientHelloType);
      FUZZ_CHECK(((data[5] << 8) | data[6]) != parley::kProtocolVersion);
    }
    return 0;
  }
  const auto& hello = std::get<parley::ClientHello>(parsed);
  FUZZ_CHECK(!hello.suites.empty() && hello.suites.size() <= parley::kMaxOfferedSuites);
  const parley::Bytes again = parley::encode(hello);
  FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  return 0;
}
