// The byte stream under a client connection: plain TCP, or TLS over it (`--tls`,
// `parleys://`). The Parley handshake and records run over either unchanged; TLS only adds a
// certificate check in front (chain and host name), the server's Parley key is still checked
// against known_hosts afterwards.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "address.hpp"

namespace parley::client {

inline constexpr std::string_view kAlpnProtocol = "parley/1";

struct TlsOptions {
  bool enabled = false;
  std::optional<std::string> ca_file;  // absent: the system's trust store
  bool insecure = false;               // no certificate check at all (warned about)
  bool operator==(const TlsOptions&) const = default;
};

class ClientStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

  explicit ClientStream(boost::asio::ip::tcp::socket socket) : stream_(std::move(socket)) {}
  ClientStream(TlsStream stream, std::shared_ptr<boost::asio::ssl::context> context)
      : stream_(std::move(stream)), context_(std::move(context)) {}

  executor_type get_executor() { return lowest_layer().get_executor(); }
  boost::asio::ip::tcp::socket& lowest_layer() {
    if (auto* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
    return std::get<boost::asio::ip::tcp::socket>(stream_);
  }
  bool is_tls() const { return std::holds_alternative<TlsStream>(stream_); }

  // AsyncReadStream and AsyncWriteStream, so asio::async_write and `||` work on it as on a socket.
  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  // Both directions, then the descriptor: pending operations end with an error.
  void close();

 private:
  std::variant<boost::asio::ip::tcp::socket, TlsStream> stream_;
  std::shared_ptr<boost::asio::ssl::context> context_;  // outlives the stream that uses it
};

// Resolves, connects (trying each address in turn) and, with TLS, runs the TLS handshake, all
// within `timeout`. Throws ClientError: Exit::connect when the server cannot be reached,
// Exit::handshake when TLS fails (an untrusted, expired or misnamed certificate: the message
// says which).
boost::asio::awaitable<ClientStream> connect_stream(const ServerAddress& address,
                                                    const TlsOptions& tls,
                                                    std::chrono::milliseconds timeout);

}  // namespace parley::client
