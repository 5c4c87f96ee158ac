#include "support.hpp"

#include <botan/chacha_rng.h>

#include <cstdio>
#include <cstdlib>

namespace parley::fuzz {

void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
  std::abort();
}

FixedRng::FixedRng() {
  reset();
}

FixedRng::~FixedRng() = default;

void FixedRng::reset() {
  stream_ = std::make_unique<Botan::ChaCha_RNG>(Botan::secure_vector<std::uint8_t>(32, 0x5a));
}

void FixedRng::randomize(std::uint8_t output[], std::size_t length) {
  stream_->randomize(output, length);
}

}  // namespace parley::fuzz
