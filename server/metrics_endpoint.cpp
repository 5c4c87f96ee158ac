#include "metrics_endpoint.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <stdexcept>

#include "bounded_accept.hpp"

namespace parley::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;

struct MetricsEndpoint::State {
  Render render;
  MetricsLimits limits;
  std::size_t active = 0;  // connections being served
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// What Prometheus asks for when it cannot negotiate anything better, and what we always give.
constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

http::response<http::string_body> plain(http::status status, unsigned version, std::string body) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  return res;
}

// Only `GET /metrics` (a query string, which Prometheus may add from `params`, is ignored).
http::response<http::string_body> answer(const http::request<http::empty_body>& req,
                                         const MetricsEndpoint::State& state) {
  const std::string_view target = req.target();
  const bool ours = target == "/metrics" || target.starts_with("/metrics?");
  http::response<http::string_body> res;
  if (!ours) {
    res = plain(http::status::not_found, req.version(), "not found: try /metrics\n");
  } else if (req.method() != http::verb::get) {
    res = plain(http::status::method_not_allowed, req.version(), "method not allowed\n");
    res.set(http::field::allow, "GET");
  } else {
    res = plain(http::status::ok, req.version(), state.render());
    res.set(http::field::content_type, kContentType);
  }
  res.set(http::field::server, "parleyd");
  res.keep_alive(false);  // one request per connection: nothing to hold between scrapes
  res.prepare_payload();
  return res;
}

// One connection: read one request within the deadline and the size cap, answer, close. Takes
// its state as parameters (no capturing coroutine lambdas: the g++ 12 pitfall).
awaitable<void> serve(tcp::socket socket, Occupied<MetricsEndpoint::State> place) {
  const MetricsEndpoint::State* state = &place.state();
  beast::tcp_stream stream(std::move(socket));
  try {
    // The buffer's cap and the parser's header limit bound what a peer can make us hold; a
    // request with a body is refused by the empty_body parser.
    beast::flat_buffer buffer(state->limits.max_request_bytes);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(state->limits.max_request_bytes));
    // One deadline for the whole request, however it trickles in: the stream closes the socket
    // when it passes, which ends the read.
    stream.expires_after(state->limits.deadline);
    auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (!read_ec) {
      const auto res = answer(parser.get(), *state);
      stream.expires_after(state->limits.deadline);  // a scraper that stops reading is dropped
      auto [write_ec, write_n] = co_await http::async_write(stream, res, use_tuple);
      if (!write_ec) {
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      }
    }
  } catch (const std::exception&) {
    // Rendering ran out of memory, or the like: this scrape is lost, the server is not. Nothing
    // is logged about scrapes.
  }
  stream.close();
}

}  // namespace

MetricsEndpoint::MetricsEndpoint(asio::io_context& io, Render render, MetricsLimits limits)
    : io_(io),
      acceptor_(io),
      state_(std::make_shared<State>(State{std::move(render), limits, 0})) {}

MetricsEndpoint::~MetricsEndpoint() = default;

tcp::endpoint MetricsEndpoint::listen(const std::string& address, std::uint16_t port) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) throw std::runtime_error("metrics address " + address + ": " + ec.message());
  const tcp::endpoint endpoint(ip, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && ip.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  // A short backlog: scrapers beyond max_connections are closed anyway.
  if (!ec) acceptor_.listen(16, ec);
  if (ec) {
    const std::string shown = ip.is_v6() ? "[" + address + "]" : address;
    throw std::runtime_error("cannot listen for metrics on " + shown + ":" + std::to_string(port) +
                             ": " + ec.message());
  }
  return acceptor_.local_endpoint();
}

void MetricsEndpoint::start() {
  asio::co_spawn(io_, accept_bounded(acceptor_, state_, &serve), asio::detached);
}

void MetricsEndpoint::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

}  // namespace parley::server
