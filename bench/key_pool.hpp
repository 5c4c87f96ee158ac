// Bench-only shortcut: a small pool of pre-generated RSA-2048 transport keys, handed out
// round-robin, so that client key generation (tens to hundreds of ms per key) does not bound
// the load. The protocol wants a fresh transport key per connection (that is its forward
// secrecy) and the real client always makes one; the server cannot tell the difference and
// does the same work either way.
#pragma once

#include <botan/pubkey.h>
#include <botan/rng.h>
#include <botan/rsa.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace parley::bench {

class KeyPool {
 public:
  // Loads `count` keys from `cache_path` (PKCS#8 PEM, concatenated) when it holds that many,
  // else generates them and writes the file (mode 0600). An empty path never caches.
  KeyPool(std::size_t count, std::size_t bits, const std::string& cache_path);

  struct Lease {
    std::unique_ptr<Botan::RSA_PrivateKey> key;  // a copy (Botan shares the key material)
    // The OAEP decryptor made once for that key: making one per connection costs a modular
    // inverse (RSA blinding), about as much as the decryption itself.
    std::shared_ptr<Botan::PK_Decryptor> decryptor;
  };
  Lease next();
  std::size_t size() const { return keys_.size(); }

 private:
  void make_decryptors();

  std::unique_ptr<Botan::RandomNumberGenerator> rng_;
  std::vector<std::unique_ptr<Botan::RSA_PrivateKey>> keys_;
  std::vector<std::shared_ptr<Botan::PK_Decryptor>> decryptors_;
  std::size_t next_ = 0;
};

}  // namespace parley::bench
