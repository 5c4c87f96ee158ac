// Shared by the unit tests: the known-answer vectors, fixed keys and a
// deterministic RNG, so no test generates an RSA key it does not need.
#pragma once

#include <botan/rng.h>
#include <botan/rsa.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <string>

#include "parley/bytes.hpp"
#include "parley/suite.hpp"
#include "vectors.hpp"

namespace parley::test {

// vectors() and hex(): vectors.hpp.

// A private key from handshake.json: "transport", "server_identity", or
// "client_identity" (the client_auth key).
std::unique_ptr<Botan::RSA_PrivateKey> vector_key(const std::string& role);

// For INSTANTIATE_TEST_SUITE_P over every suite: the ids, and test names
// made from the suite names ("AES256GCM").
std::vector<SuiteId> all_suite_ids();
std::string suite_test_name(SuiteId id);

// Gives the scripted bytes first, then a deterministic stream; tests use it to
// reproduce the vectors' randoms and to make failures repeatable.
class ScriptedRng final : public Botan::RandomNumberGenerator {
 public:
  explicit ScriptedRng(Bytes script = {});
  void push(ByteView bytes) { script_.insert(script_.end(), bytes.begin(), bytes.end()); }

  void randomize(std::uint8_t output[], std::size_t length) override;
  bool accepts_input() const override { return false; }
  void add_entropy(const std::uint8_t[], std::size_t) override {}
  std::string name() const override { return "ScriptedRng"; }
  void clear() override {}
  bool is_seeded() const override { return true; }

 private:
  std::deque<std::uint8_t> script_;
  std::unique_ptr<Botan::RandomNumberGenerator> tail_;
};

}  // namespace parley::test
