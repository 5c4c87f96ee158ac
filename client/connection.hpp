// The client's thin I/O layer: the handshake driven over the stream (TCP or TLS, see
// client_stream.hpp), then records both ways. Everything protocol-shaped lives in ClientHandshake
// (common/) and ClientChannel; this file only moves bytes and keeps time.
#pragma once

#include <botan/rng.h>
#include <botan/rsa.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "address.hpp"
#include "channel.hpp"
#include "client_stream.hpp"
#include "parley/client_handshake.hpp"
#include "parley/frame.hpp"

namespace parley::client {

// Asked once the server's signature has verified: return to go on, throw ClientError to stop.
// It may take as long as a human needs (the handshake deadline is paused meanwhile).
class TrustHook {
 public:
  virtual ~TrustHook() = default;
  virtual boost::asio::awaitable<void> check(const std::string& fingerprint) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Unsent output we hold before calling the server unresponsive.
  static constexpr std::size_t kMaxPendingBytes = 4 << 20;

  explicit Connection(ClientStream stream);

  // The handshake up to and including the welcome. `timeout` bounds the whole exchange except
  // the time `trust` takes. Throws ClientError (handshake, host_key or connect).
  boost::asio::awaitable<void> handshake(std::unique_ptr<Botan::RSA_PrivateKey> transport_key,
                                         ClientOptions options, TrustHook& trust,
                                         Botan::RandomNumberGenerator& rng,
                                         std::chrono::milliseconds timeout);

  boost::asio::any_io_executor get_executor() { return stream_.get_executor(); }
  const evt::Welcome& welcome() const { return *channel_->welcome(); }
  const std::string& server_fingerprint() const { return channel_->server_fingerprint(); }

  // The next thing the server says. Pings are answered here (and still returned).
  boost::asio::awaitable<Received> receive();

  // Queues a request (written in the background, in order). Throws ClientError(connect) when
  // the server has stopped reading and kMaxPendingBytes are waiting.
  void send(const req::Request& request);
  // Queues our close record; nothing may be sent after it.
  void send_close(StatusCode code, std::string_view reason);
  // Closes the socket: pending receive() calls end with ConnectionLost.
  void shutdown();

 private:
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<Connection> self);
  void start_writer();
  boost::asio::awaitable<void> write_now(const Bytes& bytes);  // handshake frames
  boost::asio::awaitable<std::optional<Bytes>> read_handshake_frame(
      std::chrono::steady_clock::time_point deadline);

  ClientStream stream_;
  FrameDecoder decoder_{kHandshakeMaxFrame};
  std::optional<ClientChannel> channel_;
  Bytes pending_;  // sealed frames not yet handed to the socket
  bool writing_ = false;
  bool write_failed_ = false;
};

}  // namespace parley::client
