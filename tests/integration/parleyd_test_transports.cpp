// parleyd over transports that exist only for tests, chosen by $PARLEY_TEST_TRANSPORT:
//   chunked:N        every read and every write moves at most N bytes, through the asynchronous
//                    stream path a TLS transport uses: the session must not depend on TCP's
//                    zero-buffer wait or on whole frames arriving in one read;
//   fault-after:N    plain TCP that throws from a read once N bytes have arrived: the session's
//                    one try/catch must end that session only.
// Anything else (or nothing) is plain TCP, as in parleyd.
#include <boost/asio/ip/tcp.hpp>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "daemon.hpp"
#include "stream_transport.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace parley;
using namespace parley::server;

class ChunkedStream {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket::lowest_layer_type;

  ChunkedStream(tcp::socket socket, std::size_t chunk)
      : socket_(std::move(socket)), chunk_(chunk) {}

  executor_type get_executor() { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_.async_read_some(asio::buffer(*asio::buffer_sequence_begin(buffers), chunk_),
                                   std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(asio::buffer(*asio::buffer_sequence_begin(buffers), chunk_),
                                    std::forward<Token>(token));
  }

 private:
  tcp::socket socket_;
  std::size_t chunk_;
};

class FaultyTransport final : public Transport {
 public:
  FaultyTransport(std::unique_ptr<Transport> inner, std::size_t fault_after)
      : inner_(std::move(inner)), fault_after_(fault_after) {}

  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  std::size_t read_now(FrameDecoder& into, boost::system::error_code& ec) override {
    const std::size_t n = inner_->read_now(into, ec);
    read_ += n;
    if (read_ > fault_after_) throw std::runtime_error("injected fault (test transport)");
    return n;
  }
  std::size_t write_now(ByteView bytes, boost::system::error_code& ec) override {
    return inner_->write_now(bytes, ec);
  }
  void limit_send_buffer(std::size_t bytes) override { inner_->limit_send_buffer(bytes); }
  void shutdown_send() override { inner_->shutdown_send(); }
  void close() override { inner_->close(); }

 protected:
  void start_wait_input(FrameDecoder& into, WaitHandler handler) override {
    inner_->async_wait_input(into, std::move(handler));
  }
  void start_wait_writable(WaitHandler handler) override {
    inner_->async_wait_writable(std::move(handler));
  }

 private:
  std::unique_ptr<Transport> inner_;
  std::size_t fault_after_;
  std::size_t read_ = 0;
};

std::size_t number_after(const std::string& spec, const std::string& prefix) {
  const std::size_t n = std::stoul(spec.substr(prefix.size()));
  if (n == 0) throw std::invalid_argument("0");
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("PARLEY_TEST_TRANSPORT");
  const std::string spec = env ? env : "";
  TransportFactory factory = make_tcp_transport;
  try {
    if (spec.rfind("chunked:", 0) == 0) {
      const std::size_t chunk = number_after(spec, "chunked:");
      factory = [chunk](tcp::socket socket) -> std::unique_ptr<Transport> {
        return std::make_unique<StreamTransport<ChunkedStream>>(
            ChunkedStream(std::move(socket), chunk));
      };
    } else if (spec.rfind("fault-after:", 0) == 0) {
      const std::size_t after = number_after(spec, "fault-after:");
      factory = [after](tcp::socket socket) -> std::unique_ptr<Transport> {
        return std::make_unique<FaultyTransport>(make_tcp_transport(std::move(socket)), after);
      };
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "parleyd: bad PARLEY_TEST_TRANSPORT '%s'\n", spec.c_str());
    return 2;
  }
  return daemon_main(argc, argv, factory);
}
