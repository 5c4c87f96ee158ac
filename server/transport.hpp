// The byte stream a session runs over. The session is written once against these few operations;
// plain TCP implements them here, and a TLS stream (or a WebSocket) implements the same ones.
//
// Two ways to read, so that each transport can be lean:
// - plain TCP waits until the socket is readable holding no buffer, then reads what is there
//   without blocking (an idle session holds no read buffer at all);
// - a transport that must read to know whether bytes are there (TLS decrypts into its own
//   buffer) reads while it waits, straight into the session's frame decoder.
// Writes never wait: the FlushQueue hands a session's output to write_now() once per loop turn,
// and only a session whose transport took less than everything waits until it is writable.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "parley/bytes.hpp"
#include "parley/frame.hpp"

namespace boost::asio::ssl {
class context;
}

namespace parley::server {

class Transport {
 public:
  using WaitHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  virtual ~Transport() = default;

  virtual boost::asio::any_io_executor get_executor() = 0;

  // Waits until input is there or the stream has ended; a transport that reads while it waits
  // has put what it read into `into` already. Cancellable through the token's slot.
  template <class Token>
  auto async_wait_input(FrameDecoder& into, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, FrameDecoder* decoder) {
          start_wait_input(*decoder, std::move(handler));
        },
        token, &into);
  }

  // The transport's own handshake (TLS), before any Parley byte; plain TCP has none. Ends with
  // an error when the peer fails it. Cancellable through the token's slot.
  virtual bool has_handshake() const { return false; }
  // After the handshake, for the log: "TLSv1.3 TLS_AES_256_GCM_SHA384"; "" for plain TCP.
  virtual std::string tls_summary() { return {}; }
  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_handshake(std::move(handler)); }, token);
  }

  // Appends what is there now to `into` without waiting. 0 with would_block when nothing is;
  // an error (eof included) when the stream has ended.
  virtual std::size_t read_now(FrameDecoder& into, boost::system::error_code& ec) = 0;

  // Takes what the stream accepts now without waiting (plain TCP: the kernel's buffer; a stream
  // that must write asynchronously copies a bounded chunk into its own buffer, like a kernel
  // would): would_block when it takes nothing.
  virtual std::size_t write_now(ByteView bytes, boost::system::error_code& ec) = 0;

  // Waits until write_now() can take bytes again, or the stream has failed. Cancellable through
  // the token's slot. No buffer of the caller's is held while it waits: the outbox may grow.
  template <class Token>
  auto async_wait_writable(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_wait_writable(std::move(handler)); }, token);
  }

  // Caps the kernel's send buffer where there is one: with the outbox, it bounds what a peer
  // that stops reading can pin.
  virtual void limit_send_buffer(std::size_t bytes) = 0;

  // No more bytes will be written (TCP: a FIN after what is queued); reading goes on.
  virtual void shutdown_send() = 0;

  // Closes at once; pending operations end with an error.
  virtual void close() = 0;

 protected:
  virtual void start_wait_input(FrameDecoder& into, WaitHandler handler) = 0;
  virtual void start_wait_writable(WaitHandler handler) = 0;
  // Only called when has_handshake().
  virtual void start_handshake(WaitHandler handler);
};

// Read room asked of the decoder per read. Every connection holds one through its handshake;
// plain TCP gives it back when the session goes idle.
inline constexpr std::size_t kReadChunk = 4096;

std::unique_ptr<Transport> make_tcp_transport(boost::asio::ip::tcp::socket socket);
// TLS on an accepted socket, the server's side of the handshake (tls_transport.cpp).
std::unique_ptr<Transport> make_tls_transport(boost::asio::ip::tcp::socket socket,
                                              boost::asio::ssl::context& context);

// Makes the transport for an accepted connection (plain TCP in parleyd; tests plug in others).
using TransportFactory =
    std::function<std::unique_ptr<Transport>(boost::asio::ip::tcp::socket socket)>;

}  // namespace parley::server
