// TLS on an accepted socket: a StreamTransport over asio::ssl::stream, whose handshake is the
// server's side of TLS. The session runs it first, within the ClientHello's deadline.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <string>

#include "stream_transport.hpp"

namespace parley::server {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

template <>
struct StreamHandshake<TlsStream> {
  static constexpr bool needed = true;
  template <class Handler>
  static void start(TlsStream& stream, Handler&& handler) {
    stream.async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }
  static std::string summary(TlsStream& stream) {
    SSL* ssl = stream.native_handle();
    return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
  }
};

std::unique_ptr<Transport> make_tls_transport(boost::asio::ip::tcp::socket socket,
                                              boost::asio::ssl::context& context) {
  boost::system::error_code ec;
  socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  // The SSL object holds its own reference to the context: a reload may replace the listener's
  // context while this connection still uses the old one.
  return std::make_unique<StreamTransport<TlsStream>>(TlsStream(std::move(socket), context));
}

}  // namespace parley::server
