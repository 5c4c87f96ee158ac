// The load generator's side of one TCP connection, for any system: connects, feeds the
// codec, writes what it produces. All connections share one io_context on one thread and
// one read buffer (bytes are handed to the codec before the next read), so 10,000 idle
// connections cost a socket and a codec each, not a buffer each.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapter.hpp"

namespace parley::bench {

class Connection;

// One per scenario, shared by all its connections: one thread, and each read is fully handed
// to its codec before the next read anywhere.
struct ReadBuffer : std::vector<std::uint8_t> {
  ReadBuffer() : std::vector<std::uint8_t>(256 * 1024) {}
};

class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void on_ready(Connection& connection) = 0;
  virtual void on_message(Connection& connection, std::string_view text) = 0;
  // A room message the codec counted without reading it.
  virtual void on_unread_message(Connection& connection) = 0;
  // The connection ended without close() having been called: a failure, or the server's EOF.
  virtual void on_closed(Connection& connection, std::string_view why) = 0;
};

class Connection final : public std::enable_shared_from_this<Connection>, private CodecEvents {
 public:
  Connection(boost::asio::any_io_executor executor, std::unique_ptr<Codec> codec,
             ConnectionOwner& owner, std::size_t index, ReadBuffer& read_buffer);

  // Connects and reads until the connection ends. The caller keeps a shared_ptr meanwhile.
  boost::asio::awaitable<void> run(boost::asio::ip::tcp::endpoint server);
  // run() as a detached coroutine that owns a reference.
  static void spawn(std::shared_ptr<Connection> self, boost::asio::ip::tcp::endpoint server);

  void publish(std::size_t room, std::string_view text);
  // A polite goodbye if the protocol has one, then the socket closes; no on_closed callback.
  void close();
  // The socket closes without a goodbye, as when a client's host or network goes away (the
  // server sees EOF, or a reset if bytes were still unread); no on_closed callback.
  void drop();

  std::size_t index() const { return index_; }
  bool ready() const { return ready_; }
  bool closed() const { return closed_; }

 private:
  void on_ready() override;
  void on_message(std::string_view text) override;
  void on_unread_message() override;
  void on_failure(std::string_view what) override;

  void flush();
  void end(std::string_view why, bool notify);
  static boost::asio::awaitable<void> hold(std::shared_ptr<Connection> self,
                                           boost::asio::ip::tcp::endpoint server);
  static boost::asio::awaitable<void> wait_writable(std::shared_ptr<Connection> self);

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<Codec> codec_;
  ConnectionOwner& owner_;
  std::size_t index_;
  ReadBuffer& read_buffer_;
  Bytes out_;
  std::size_t out_pos_ = 0;
  bool write_waiting_ = false;
  bool flush_posted_ = false;
  bool ready_ = false;
  bool closed_ = false;
};

}  // namespace parley::bench
