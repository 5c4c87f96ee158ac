// Certificates for the TLS tests, made by the test itself with Botan's X.509 CA (ECDSA P-256
// keys: fast to make), so no private key is ever committed.
#pragma once

#include <botan/ecdsa.h>
#include <botan/x509cert.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace parley::it {

struct IssuedCert {
  std::string cert_pem;  // the leaf, then the CA (a chain as servers serve it)
  std::string key_pem;   // PKCS#8
};

class TestCa {
 public:
  explicit TestCa(const std::string& name);

  // A server certificate for these host names and one IP address (either may be empty), valid
  // from now + valid_from to now + valid_until (negative offsets make an expired certificate).
  IssuedCert issue(const std::string& common_name, const std::vector<std::string>& dns,
                   const std::string& ip, std::chrono::hours valid_from = std::chrono::hours(-1),
                   std::chrono::hours valid_until = std::chrono::hours(24 * 30)) const;

  std::string cert_pem() const { return cert_->PEM_encode(); }

 private:
  std::unique_ptr<Botan::ECDSA_PrivateKey> key_;
  std::unique_ptr<Botan::X509_Certificate> cert_;
};

}  // namespace parley::it
