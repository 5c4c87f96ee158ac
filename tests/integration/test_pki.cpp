#include "test_pki.hpp"

#include <botan/auto_rng.h>
#include <botan/ec_group.h>
#include <botan/pkcs10.h>
#include <botan/pkcs8.h>
#include <botan/x509_ca.h>
#include <botan/x509self.h>

namespace parley::it {
namespace {

Botan::X509_Time at(std::chrono::hours offset) {
  return Botan::X509_Time(std::chrono::system_clock::now() + offset);
}

}  // namespace

TestCa::TestCa(const std::string& name) {
  Botan::AutoSeeded_RNG rng;
  key_ = std::make_unique<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1"));
  Botan::X509_Cert_Options options(name, 10 * 365 * 24 * 3600);
  options.CA_key();
  cert_ = std::make_unique<Botan::X509_Certificate>(
      Botan::X509::create_self_signed_cert(options, *key_, "SHA-256", rng));
}

IssuedCert TestCa::issue(const std::string& common_name, const std::vector<std::string>& dns,
                         const std::string& ip, std::chrono::hours valid_from,
                         std::chrono::hours valid_until) const {
  Botan::AutoSeeded_RNG rng;
  Botan::ECDSA_PrivateKey key(rng, Botan::EC_Group("secp256r1"));
  Botan::X509_Cert_Options options(common_name);
  if (!dns.empty()) {
    options.dns = dns.front();
    options.more_dns.assign(dns.begin() + 1, dns.end());
  }
  options.ip = ip;
  options.add_ex_constraint("PKIX.ServerAuth");
  const Botan::PKCS10_Request request = Botan::X509::create_cert_req(options, key, "SHA-256", rng);
  const Botan::X509_CA ca(*cert_, *key_, "SHA-256", rng);
  const Botan::X509_Certificate cert =
      ca.sign_request(request, rng, at(valid_from), at(valid_until));
  return {cert.PEM_encode() + cert_->PEM_encode(), Botan::PKCS8::PEM_encode(key)};
}

}  // namespace parley::it
