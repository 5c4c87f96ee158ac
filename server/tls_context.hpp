// The OpenSSL context a TLS listener serves with (docs/config.md, "tls"). OpenSSL does TLS only:
// the Parley handshake runs inside it with Botan, unchanged, so a pinned server fingerprint still
// protects a client when a certificate authority misissues a certificate.
//
// Policy: TLS 1.2 (unless min_version is 1.3) with ECDHE and AEAD suites only, TLS 1.3 with
// OpenSSL's defaults; no renegotiation, no compression, no session resumption (nothing to keep
// per client, nothing to rotate); ALPN "parley/1": a client that offers no ALPN is served, one
// that offers ALPN without "parley/1" is refused with the no_application_protocol alert.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string_view>

#include "parley/config.hpp"

namespace parley::server {

inline constexpr std::string_view kAlpnProtocol = "parley/1";

// Reads the certificate chain and the key (bounded reads) and checks that they belong together.
// Throws std::runtime_error naming the file and what is wrong with it.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const config::Tls& tls);

// The subject and expiry of the context's certificate, for the `listening` and `reload` lines.
std::string describe_certificate(boost::asio::ssl::context& context);

}  // namespace parley::server
