// Record open under IDEA-CTR-HMAC-SHA256 (record_open_target.hpp says what is checked).
#include "record_open_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parley::fuzz::open_records(parley::SuiteId::idea_ctr_hmac_sha256, data, size);
}
