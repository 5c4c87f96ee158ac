#include "key_pool.hpp"

#include <botan/pkcs8.h>
#include <botan/system_rng.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "parley/handshake.hpp"
#include "parley/rsa_key.hpp"

namespace parley::bench {
namespace {

constexpr std::string_view kEnd = "-----END PRIVATE KEY-----";

std::vector<std::unique_ptr<Botan::RSA_PrivateKey>> load(const std::string& path,
                                                         std::size_t bits) {
  std::vector<std::unique_ptr<Botan::RSA_PrivateKey>> keys;
  std::ifstream in(path);
  if (!in) return keys;
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  std::size_t pos = 0;
  for (;;) {
    const auto begin = all.find("-----BEGIN", pos);
    const auto end = all.find(kEnd, pos);
    if (begin == std::string::npos || end == std::string::npos || end < begin) break;
    const auto stop = end + kEnd.size();
    auto key = rsa_private_key_from_pem(std::string_view(all).substr(begin, stop - begin));
    if (key->key_length() != bits) return {};
    keys.push_back(std::move(key));
    pos = stop;
  }
  return keys;
}

}  // namespace

KeyPool::KeyPool(std::size_t count, std::size_t bits, const std::string& cache_path)
    : rng_(std::make_unique<Botan::System_RNG>()) {
  if (count == 0) throw std::invalid_argument("KeyPool: need at least one key");
  if (!cache_path.empty()) {
    try {
      keys_ = load(cache_path, bits);
    } catch (const std::exception&) {
      keys_.clear();  // a damaged cache is simply made again
    }
    if (keys_.size() > count) keys_.resize(count);
  }
  if (keys_.size() == count) {
    make_decryptors();
    return;
  }
  keys_.clear();
  Botan::System_RNG rng;
  std::string pem;
  for (std::size_t i = 0; i < count; ++i) {
    keys_.push_back(std::make_unique<Botan::RSA_PrivateKey>(rng, bits));
    pem += to_pkcs8_pem(*keys_.back());
  }
  make_decryptors();
  if (cache_path.empty()) return;
  std::ofstream out(cache_path, std::ios::trunc);
  out << pem;
  out.close();
  ::chmod(cache_path.c_str(), 0600);
}

void KeyPool::make_decryptors() {
  decryptors_.clear();
  for (const auto& key : keys_)
    decryptors_.push_back(std::make_shared<Botan::PK_Decryptor_EME>(*key, *rng_, kOaepPadding));
}

KeyPool::Lease KeyPool::next() {
  const std::size_t i = next_;
  next_ = (next_ + 1) % keys_.size();
  return {std::make_unique<Botan::RSA_PrivateKey>(*keys_[i]), decryptors_[i]};
}

}  // namespace parley::bench
