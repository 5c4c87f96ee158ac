// The Error frame (PROTOCOL.md 2.5) both ways. Parsing: an accepted body encodes back to the
// input. Encoding: any reason, taken from the input, is cut to at most 256 bytes on a UTF-8
// boundary and parses back as exactly that cut.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "parley/hello.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const parley::ByteView in(data, size);
  if (auto parsed = parley::parse_error_frame(in)) {
    FUZZ_CHECK(parsed->reason.size() <= parley::kMaxReasonBytes);
    const parley::Bytes again = parley::encode(*parsed);
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  }

  if (size < 2) return 0;
  const parley::ErrorFrame made{static_cast<parley::StatusCode>((data[0] << 8) | data[1]),
                                std::string(parley::as_chars(in.subspan(2)))};
  const auto back = parley::parse_error_frame(parley::encode(made));
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->code == made.code);
  const std::string cut = parley::truncate_utf8(made.reason, parley::kMaxReasonBytes);
  FUZZ_CHECK(back->reason == cut);
  FUZZ_CHECK(made.reason.starts_with(cut));
  // The cut never ends inside a sequence: the next byte, if any, starts a character.
  if (cut.size() < made.reason.size())
    FUZZ_CHECK((static_cast<unsigned char>(made.reason[cut.size()]) & 0xC0) != 0x80 || cut.empty());
  return 0;
}
