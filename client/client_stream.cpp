#include "client_stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "exit_codes.hpp"
#include "sanitize.hpp"

namespace parley::client {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

std::shared_ptr<ssl::context> client_context(const TlsOptions& tls) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2 with forward secrecy and an AEAD only, as the server offers.
  SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  if (tls.insecure) {
    context->set_verify_mode(ssl::verify_none);
    return context;
  }
  context->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (tls.ca_file) {
    context->load_verify_file(*tls.ca_file, ec);
    if (ec)
      throw ClientError(Exit::usage, "--ca " + *tls.ca_file +
                                         ": not a readable PEM file of certificates (" +
                                         ec.message() + ")");
  } else {
    context->set_default_verify_paths(ec);
    if (ec) throw ClientError(Exit::usage, "cannot load the system's trust store: " + ec.message());
  }
  return context;
}

// Why the TLS handshake failed, in the words a user can act on.
std::string tls_failure(ClientStream::TlsStream& stream, const boost::system::error_code& ec,
                        const ServerAddress& address) {
  const long verify = SSL_get_verify_result(stream.native_handle());
  ERR_clear_error();
  const std::string where = known_hosts_name(address);
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
    return "TLS: the certificate of " + where + " is not for '" + sanitize(address.host) + "'";
  if (verify == X509_V_ERR_CERT_HAS_EXPIRED)
    return "TLS: the certificate of " + where + " has expired";
  if (verify == X509_V_ERR_CERT_NOT_YET_VALID)
    return "TLS: the certificate of " + where + " is not valid yet";
  if (verify != X509_V_OK)
    return "TLS: the certificate of " + where + " is not trusted (" +
           X509_verify_cert_error_string(verify) + "); --ca FILE names the CA to trust";
  return "TLS handshake with " + where + " failed: " + ec.message();
}

}  // namespace

void ClientStream::close() {
  boost::system::error_code ec;
  lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
  lowest_layer().close(ec);
}

awaitable<ClientStream> connect_stream(const ServerAddress& address, const TlsOptions& tls,
                                       std::chrono::milliseconds timeout) {
  const std::string where = known_hosts_name(address);
  // Before the connect: a bad --ca is a usage error whether or not the server is up.
  std::shared_ptr<ssl::context> context = tls.enabled ? client_context(tls) : nullptr;

  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  timer.expires_after(timeout);
  tcp::resolver resolver(ex);
  const std::string port = std::to_string(address.port);
  auto resolved = co_await (resolver.async_resolve(address.host, port, use_tuple) ||
                            timer.async_wait(use_tuple));
  if (resolved.index() == 1)
    throw ClientError(Exit::connect, "cannot resolve " + address.host + ": timed out");
  auto [resolve_ec, endpoints] = std::get<0>(std::move(resolved));
  if (resolve_ec)
    throw ClientError(Exit::connect,
                      "cannot resolve " + address.host + ": " + resolve_ec.message());

  tcp::socket socket(ex);
  auto connected =
      co_await (asio::async_connect(socket, endpoints, use_tuple) || timer.async_wait(use_tuple));
  if (connected.index() == 1)
    throw ClientError(Exit::connect, "cannot connect to " + where + ": timed out after " +
                                         std::to_string(timeout.count()) + " ms");
  auto [connect_ec, endpoint] = std::get<0>(std::move(connected));
  if (connect_ec)
    throw ClientError(Exit::connect, "cannot connect to " + where + ": " + connect_ec.message());
  socket.set_option(tcp::no_delay(true));
  if (!tls.enabled) co_return ClientStream(std::move(socket));

  ClientStream::TlsStream stream(std::move(socket), *context);
  SSL* ssl_handle = stream.native_handle();
  static constexpr unsigned char kAlpnWire[] = {8, 'p', 'a', 'r', 'l', 'e', 'y', '/', '1'};
  SSL_set_alpn_protos(ssl_handle, kAlpnWire, sizeof kAlpnWire);
  // SNI names a host, never an address (RFC 6066).
  if (!is_ip_literal(address.host)) SSL_set_tlsext_host_name(ssl_handle, address.host.c_str());
  // OpenSSL's own name check (not a verify callback): a mismatch then has its own verify result,
  // which tls_failure() can name.
  if (!tls.insecure) {
    const bool ok =
        is_ip_literal(address.host)
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), address.host.c_str()) == 1
            : SSL_set1_host(ssl_handle, address.host.c_str()) == 1;
    if (!ok) throw ClientError(Exit::usage, "TLS: cannot check the name '" + address.host + "'");
  }
  auto shaken = co_await (stream.async_handshake(ssl::stream_base::client, use_tuple) ||
                          timer.async_wait(use_tuple));
  if (shaken.index() == 1)
    throw ClientError(Exit::handshake, "TLS handshake with " + where + " timed out after " +
                                           std::to_string(timeout.count()) + " ms");
  if (auto [ec] = std::get<0>(shaken); ec)
    throw ClientError(Exit::handshake, tls_failure(stream, ec, address));
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_handle, &alpn, &alpn_len);
  if (alpn_len != 0 &&
      std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != kAlpnProtocol)
    throw ClientError(Exit::handshake, "TLS: " + where + " does not speak " +
                                           std::string(kAlpnProtocol) + " (ALPN)");
  co_return ClientStream(std::move(stream), std::move(context));
}

}  // namespace parley::client
