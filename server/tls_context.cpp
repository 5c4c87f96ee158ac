#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <string>
#include <variant>

#include "parley/bounded_file.hpp"

namespace parley::server {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2: forward secrecy and an AEAD, nothing else. (TLS 1.3 suites are all of that already.)
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

std::string read_pem(const std::string& path, const char* what) {
  auto text = config::read_bounded_file(path);
  if (auto* error = std::get_if<config::FileError>(&text))
    throw std::runtime_error("TLS " + std::string(what) + ": " + error->message);
  return std::get<std::string>(std::move(text));
}

std::string openssl_reason(const boost::system::system_error& e) {
  std::string reason = e.code().message();
  ERR_clear_error();
  return reason;
}

// Picks "parley/1" from the client's list; a client that offers ALPN without it is refused (a
// client of some other protocol, or a proxy that routed it here by mistake).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
  for (unsigned int i = 0; i < in_len;) {
    const unsigned int len = in[i];
    if (i + 1 + len > in_len) break;
    const std::string_view offered(reinterpret_cast<const char*>(in + i + 1), len);
    if (offered == kAlpnProtocol) {
      *out = in + i + 1;
      *out_len = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const config::Tls& tls) {
  const std::string chain = read_pem(tls.cert, "cert");
  const std::string key = read_pem(tls.key, "key");

  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                       ssl::context::single_dh_use);
  SSL_CTX_set_options(native,
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  SSL_CTX_set_min_proto_version(
      native, tls.min_version == config::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(native, 0);  // the newest the library speaks
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
    throw std::runtime_error("TLS: OpenSSL refused the cipher list");
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);
  // An idle session gives its read and write buffers back to OpenSSL's allocator.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);

  try {
    context->use_certificate_chain(boost::asio::buffer(chain));
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("TLS cert " + tls.cert + ": not a PEM certificate chain (" +
                             openssl_reason(e) + ")");
  }
  try {
    context->use_private_key(boost::asio::buffer(key), ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    const auto code = static_cast<unsigned long>(e.code().value());
    if (ERR_GET_LIB(code) != ERR_LIB_X509 || ERR_GET_REASON(code) != X509_R_KEY_VALUES_MISMATCH)
      throw std::runtime_error("TLS key " + tls.key + ": not a PEM private key (" +
                               openssl_reason(e) + ")");
    ERR_clear_error();
    throw std::runtime_error("TLS key " + tls.key + " does not belong to the certificate in " +
                             tls.cert);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw std::runtime_error("TLS key " + tls.key + " does not belong to the certificate in " +
                             tls.cert);
  }
  return context;
}

std::string describe_certificate(ssl::context& context) {
  X509* cert = SSL_CTX_get0_certificate(context.native_handle());
  if (cert == nullptr) return "";
  char subject[256] = {};
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  std::string text = subject;
  if (const ASN1_TIME* not_after = X509_get0_notAfter(cert)) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio != nullptr) {
      if (ASN1_TIME_print(bio, not_after) == 1) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        if (n > 0) text += ", expires " + std::string(data, static_cast<std::size_t>(n));
      }
      BIO_free(bio);
    }
  }
  return text;
}

}  // namespace parley::server
