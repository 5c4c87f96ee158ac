// The metrics endpoint: HTTP/1.1 on the event loop's own io_context (no thread of its own),
// serving one `GET /metrics` per connection and closing it. Every scraper is bounded: a few
// kilobytes of request, a deadline for reading it and one for taking the answer, and a few
// connections at once (more are closed at accept), so a slow or hostile one can neither hold the
// loop nor grow memory. Boost.Beast lives in the .cpp alone (it is slow to compile).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace parley::server {

struct MetricsLimits {
  std::size_t max_connections = 4;  // Prometheus scrapes one at a time; a few for humans with curl
  std::size_t max_request_bytes = 8192;      // request line and headers; no body is accepted
  std::chrono::milliseconds deadline{3000};  // to read the request, and again to send the page
};

class MetricsEndpoint {
 public:
  // Builds the page; called once per good request, on the loop.
  using Render = std::function<std::string()>;

  MetricsEndpoint(boost::asio::io_context& io, Render render, MetricsLimits limits = {});
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Binds and listens; throws std::runtime_error naming the address. Returns the bound endpoint
  // (port 0 asks the kernel for one).
  boost::asio::ip::tcp::endpoint listen(const std::string& address, std::uint16_t port);
  // Starts accepting; returns at once.
  void start();
  // Stops accepting (shutdown). Connections being served finish within their deadlines.
  void stop();

  struct State;  // shared with the connections' coroutines (metrics_endpoint.cpp)

 private:
  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<State> state_;
};

}  // namespace parley::server
