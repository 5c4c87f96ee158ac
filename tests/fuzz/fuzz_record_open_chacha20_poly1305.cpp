// Record open under CHACHA20-POLY1305 (record_open_target.hpp says what is checked).
#include "record_open_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parley::fuzz::open_records(parley::SuiteId::chacha20_poly1305, data, size);
}
