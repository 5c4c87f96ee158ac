// Record open under AES-256-GCM (record_open_target.hpp says what is checked).
#include "record_open_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parley::fuzz::open_records(parley::SuiteId::aes_256_gcm, data, size);
}
