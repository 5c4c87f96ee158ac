// Shared by the fuzz targets: a check that aborts (libFuzzer reports an abort as a crash and
// keeps the input), the known-answer vectors the targets take their fixed keys from, and a
// deterministic RNG, so that an input replays to the same execution.
#pragma once

#include <botan/rng.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "parley/bytes.hpp"
#include "vectors.hpp"

// Not assert(): it must hold in every build type, and say which property broke.
#define FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::parley::fuzz::check_failed(#cond, __FILE__, __LINE__))

namespace parley::fuzz {

[[noreturn]] void check_failed(const char* what, const char* file, int line);

using test::hex;  // tests/support/vectors.hpp
using test::vectors;

// ChaCha20 from a fixed seed, restarted per input by reset(): the same input always sees the
// same "random" bytes, so a crash found with it reproduces.
class FixedRng final : public Botan::RandomNumberGenerator {
 public:
  FixedRng();
  ~FixedRng() override;
  void reset();

  void randomize(std::uint8_t output[], std::size_t length) override;
  bool accepts_input() const override { return false; }
  void add_entropy(const std::uint8_t[], std::size_t) override {}
  std::string name() const override { return "FixedRng"; }
  void clear() override {}
  bool is_seeded() const override { return true; }

 private:
  std::unique_ptr<Botan::RandomNumberGenerator> stream_;
};

}  // namespace parley::fuzz
