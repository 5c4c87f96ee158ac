#include "test_support.hpp"

#include <botan/chacha_rng.h>

#include <fstream>
#include <map>
#include <stdexcept>

#include "parley/rsa_key.hpp"

namespace parley::test {

std::unique_ptr<Botan::RSA_PrivateKey> vector_key(const std::string& role) {
  const auto& hs = vectors("handshake.json");
  const auto& key =
      role == "client_identity" ? hs["client_auth"]["identity_key"] : hs["keys"][role];
  return rsa_private_key_from_pem(key["private_key_pkcs8_pem"].get<std::string>());
}

std::vector<SuiteId> all_suite_ids() {
  std::vector<SuiteId> ids;
  for (const auto& s : all_suites())
    ids.push_back(s.id);
  return ids;
}

std::string suite_test_name(SuiteId id) {
  std::string name(suite_info(id).name);
  std::erase(name, '-');
  return name;
}

ScriptedRng::ScriptedRng(Bytes script)
    : script_(script.begin(), script.end()),
      tail_(std::make_unique<Botan::ChaCha_RNG>(Botan::secure_vector<std::uint8_t>(32, 0x5a))) {}

void ScriptedRng::randomize(std::uint8_t output[], std::size_t length) {
  std::size_t i = 0;
  for (; i < length && !script_.empty(); ++i) {
    output[i] = script_.front();
    script_.pop_front();
  }
  if (i < length) tail_->randomize(output + i, length - i);
}

}  // namespace parley::test
