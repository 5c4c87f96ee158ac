// The ServerHello parser (PROTOCOL.md 2.3), as the client runs it on what a server sent.
// Strict: an accepted body encodes back to exactly the input, and the signed part it reports
// is the encoding of everything before the signature.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "parley/hello.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = parley::parse_server_hello(parley::ByteView(data, size));
  if (!parsed) return 0;
  FUZZ_CHECK(data[0] == parley::kServerHelloType);
  const parley::Bytes again = parley::encode(parsed->hello);
  FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  const parley::Bytes signed_part = parley::encode_signed_part(parsed->hello);
  FUZZ_CHECK(signed_part.size() == parsed->signed_part_size);
  FUZZ_CHECK(std::equal(signed_part.begin(), signed_part.end(), data));
  return 0;
}
