#include "support.hpp"

#include <botan/chacha_rng.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>

namespace parley::fuzz {

void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
  std::abort();
}

const nlohmann::json& vectors(const std::string& name) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/" + name);
  if (!in) throw std::runtime_error("cannot open vector file " + name);
  return cache.emplace(name, nlohmann::json::parse(in)).first->second;
}

Bytes hex(const nlohmann::json& value) {
  return from_hex(value.get<std::string>());
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
