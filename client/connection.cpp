#include "connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "exit_codes.hpp"
#include "parley/rsa_key.hpp"
#include "render.hpp"

namespace parley::client {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16384;

}  // namespace

Connection::Connection(ClientStream stream) : stream_(std::move(stream)) {}

awaitable<std::optional<Bytes>> Connection::read_handshake_frame(Clock::time_point deadline) {
  asio::steady_timer timer(stream_.get_executor());
  timer.expires_at(deadline);
  for (;;) {
    if (auto body = decoder_.next()) co_return Bytes(body->begin(), body->end());
    if (decoder_.error() != FrameError::none)
      throw ClientError(Exit::handshake, "the server sent a malformed frame during the handshake");
    const auto space = decoder_.prepare(kReadChunk);
    auto buffer = asio::buffer(space.data(), space.size());
    auto result =
        co_await (stream_.async_read_some(buffer, use_tuple) || timer.async_wait(use_tuple));
    if (result.index() == 1) co_return std::nullopt;
    auto [ec, n] = std::get<0>(result);
    decoder_.commit(n);
    if (ec) {
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        throw ClientError(Exit::handshake, "the server closed the connection during the handshake");
      throw ClientError(Exit::connect, "connection lost during the handshake: " + ec.message());
    }
  }
}

awaitable<void> Connection::write_now(const Bytes& bytes) {
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes), use_tuple);
  if (ec) throw ClientError(Exit::connect, "connection lost during the handshake: " + ec.message());
}

awaitable<void> Connection::handshake(std::unique_ptr<Botan::RSA_PrivateKey> transport_key,
                                      ClientOptions options, TrustHook& trust,
                                      Botan::RandomNumberGenerator& rng,
                                      std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  const auto timed_out = [&] {
    return ClientError(Exit::handshake,
                       "the server accepted the connection but did not complete the handshake "
                       "within --connect-timeout (" +
                           std::to_string(timeout.count()) + " ms were left for it)");
  };
  // Named in the advice when the server refuses us (auth_failed_advice).
  const std::string identity_fingerprint =
      options.identity ? fingerprint_of(spki_of(*options.identity)) : std::string();
  ClientHandshake hs(std::move(transport_key), std::move(options), rng);
  const Bytes hello = hs.start();
  bool server_trusted = false;  // then our finished is on its way, with our identity or none
  co_await write_now(hello);
  for (;;) {
    std::optional<Bytes> body = co_await read_handshake_frame(deadline);
    if (!body) throw timed_out();
    HandshakeStep step = hs.on_frame(*body);
    if (!step.failure && hs.awaiting_trust()) {
      const auto asked_at = Clock::now();
      co_await trust.check(hs.server_fingerprint());
      deadline += Clock::now() - asked_at;  // a human's thinking time is not the server's delay
      step = hs.trust_server();
      server_trusted = true;
    }
    if (!step.send.empty()) co_await write_now(step.send);
    if (step.failure) {
      const HandshakeFailure& f = *step.failure;
      std::string words =
          "handshake failed: " + sanitize(f.reason) + " [" + std::string(name_of(f.code)) + "]";
      // The server's close(auth_failed) answers our finished: it refused our identity (a failure
      // of its key on our side is named "server ..." and is no question of ours).
      if (f.code == StatusCode::auth_failed && server_trusted)
        words += ". " + auth_failed_advice(identity_fingerprint);
      throw ClientError(Exit::handshake, words);
    }
    if (step.established) {
      channel_.emplace(std::move(*step.established));
      break;
    }
  }
  // s2c record #1 is the welcome, or a close (a refused identity, say).
  for (;;) {
    std::optional<Bytes> body = co_await read_handshake_frame(deadline);
    if (!body) throw timed_out();
    std::optional<Received> received = channel_->on_frame(*body);
    if (!received) continue;
    if (auto* closed = std::get_if<SessionClosed>(&*received)) {
      std::string words = describe_close(closed->close.code, closed->close.reason);
      if (closed->close.code == StatusCode::auth_failed)
        words += ". " + auth_failed_advice(identity_fingerprint);
      throw ClientError(Exit::handshake, words);
    }
    if (auto* violation = std::get_if<ProtocolViolation>(&*received))
      throw ClientError(Exit::handshake, sanitize(violation->what));
    break;  // the channel only lets a welcome through first
  }
  decoder_.set_max_frame(welcome().max_frame);
}

awaitable<Received> Connection::receive() {
  for (;;) {
    while (auto body = decoder_.next()) {
      std::optional<Received> received = channel_->on_frame(*body);
      if (!received) continue;
      if (auto* e = std::get_if<ReceivedEvent>(&*received);
          e && std::holds_alternative<evt::Ping>(e->event))
        send(req::Request{{}, req::Pong{}});
      co_return std::move(*received);
    }
    if (decoder_.error() != FrameError::none)
      co_return ProtocolViolation{"the server sent a frame longer than it announced"};
    const auto space = decoder_.prepare(kReadChunk);
    auto [ec, n] =
        co_await stream_.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
    decoder_.commit(n);
    if (ec) {
      // Cancelled by our own `||`: not news from the server, so not a Received.
      if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
      // TLS reports a TCP close without its close_notify as a truncated stream: the same news.
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        co_return ConnectionLost{"the server closed the connection without a close record"};
      co_return ConnectionLost{"connection lost: " + ec.message()};
    }
  }
}

void Connection::send(const req::Request& request) {
  if (pending_.size() > kMaxPendingBytes)
    throw ClientError(Exit::connect, "the server has stopped reading (" +
                                         std::to_string(pending_.size()) + " bytes unsent)");
  channel_->seal(request, pending_);
  start_writer();
}

void Connection::send_close(StatusCode code, std::string_view reason) {
  channel_->seal_close(code, reason, pending_);
  start_writer();
}

void Connection::start_writer() {
  if (writing_ || write_failed_) return;
  writing_ = true;
  asio::co_spawn(stream_.get_executor(), write_loop(shared_from_this()), asio::detached);
}

awaitable<void> Connection::write_loop(std::shared_ptr<Connection> self) {
  Bytes out;
  while (!self->pending_.empty()) {
    out.clear();
    out.swap(self->pending_);  // everything queued so far goes out in one write
    auto [ec, n] = co_await asio::async_write(self->stream_, asio::buffer(out), use_tuple);
    if (ec) {
      // Nothing more can be sent. Shutting the socket down makes a pending receive() end
      // with ConnectionLost, so every mode notices and reports it.
      self->write_failed_ = true;
      boost::system::error_code ignored;
      self->stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
      break;
    }
  }
  self->writing_ = false;
}

void Connection::shutdown() {
  stream_.close();
}

}  // namespace parley::client
