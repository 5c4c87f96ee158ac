// Plain TCP: a non-blocking socket, waited on without a buffer, read and written without waiting.
#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>

#include "transport.hpp"

namespace parley::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class TcpTransport final : public Transport {
 public:
  explicit TcpTransport(tcp::socket socket) : socket_(std::move(socket)) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
  }

  asio::any_io_executor get_executor() override { return socket_.get_executor(); }

  std::size_t read_now(FrameDecoder& into, boost::system::error_code& ec) override {
    auto room = into.prepare(kReadChunk);
    const std::size_t n = socket_.read_some(asio::buffer(room.data(), room.size()), ec);
    if (ec == asio::error::try_again) ec = asio::error::would_block;
    into.commit(ec ? 0 : n);
    // Readiness is edge-triggered: a read that filled its room may have left bytes behind, and
    // no new edge will say so.
    more_buffered_ = !ec && n == room.size();
    return ec ? 0 : n;
  }

  std::size_t write_now(ByteView bytes, boost::system::error_code& ec) override {
    const std::size_t n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec == asio::error::try_again) ec = asio::error::would_block;
    return ec ? 0 : n;
  }

  void limit_send_buffer(std::size_t bytes) override {
    boost::system::error_code ec;
    socket_.set_option(asio::socket_base::send_buffer_size(static_cast<int>(bytes)), ec);
  }

  void shutdown_send() override {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
  }

  void close() override {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 protected:
  void start_wait_input(FrameDecoder&, WaitHandler handler) override {
    if (more_buffered_) {
      more_buffered_ = false;
      asio::post(socket_.get_executor(),
                 asio::append(std::move(handler), boost::system::error_code{}));
      return;
    }
    socket_.async_wait(tcp::socket::wait_read, std::move(handler));
  }

  void start_wait_writable(WaitHandler handler) override {
    socket_.async_wait(tcp::socket::wait_write, std::move(handler));
  }

 private:
  tcp::socket socket_;
  bool more_buffered_ = false;
};

}  // namespace

void Transport::start_handshake(WaitHandler handler) {
  asio::post(get_executor(), asio::append(std::move(handler), boost::system::error_code{}));
}

std::unique_ptr<Transport> make_tcp_transport(tcp::socket socket) {
  return std::make_unique<TcpTransport>(std::move(socket));
}

}  // namespace parley::server
