// A transport over any Asio byte stream that reads and writes asynchronously (a TLS stream; the
// tests' chunked stream). It reads while it waits, straight into the session's decoder, and
// takes writes into a bounded buffer of its own, as a kernel's send buffer would, so the session
// never lends its outbox to a pending operation.
#pragma once

#include <boost/asio/append.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <memory>
#include <utility>

#include "transport.hpp"

namespace parley::server {

// A stream's own handshake, run before any Parley byte: none by default; a TLS stream
// specializes this (tls_transport.cpp).
template <class Stream>
struct StreamHandshake {
  static constexpr bool needed = false;
  template <class Handler>
  static void start(Stream&, Handler&&) {}
  static std::string summary(Stream&) { return {}; }
};

template <class Stream>
class StreamTransport final : public Transport {
 public:
  // What one write takes at most (the rest waits for it to complete).
  static constexpr std::size_t kWriteChunk = 16384;

  explicit StreamTransport(Stream stream) : state_(std::make_shared<State>(std::move(stream))) {}

  Stream& stream() { return state_->stream; }

  boost::asio::any_io_executor get_executor() override { return state_->stream.get_executor(); }

  std::size_t read_now(FrameDecoder&, boost::system::error_code& ec) override {
    ec = boost::asio::error::would_block;  // what arrived was read while waiting
    return 0;
  }

  std::size_t write_now(ByteView bytes, boost::system::error_code& ec) override {
    State& s = *state_;
    if (s.write_error) {
      ec = s.write_error;
      return 0;
    }
    if (s.writing) {
      ec = boost::asio::error::would_block;
      return 0;
    }
    const std::size_t n = std::min(bytes.size(), kWriteChunk);
    s.out.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    s.writing = true;
    // The handler holds the state: the buffer outlives the transport if it must.
    boost::asio::async_write(s.stream, boost::asio::buffer(s.out),
                             [state = state_](const boost::system::error_code& error, std::size_t) {
                               state->writing = false;
                               if (error) state->write_error = error;
                               if (state->shutdown_after_write) state->shutdown_now();
                               state->written.cancel();
                             });
    ec = {};
    return n;
  }

  void limit_send_buffer(std::size_t bytes) override {
    boost::system::error_code ec;
    state_->stream.lowest_layer().set_option(
        boost::asio::socket_base::send_buffer_size(static_cast<int>(bytes)), ec);
  }

  bool has_handshake() const override { return StreamHandshake<Stream>::needed; }
  std::string tls_summary() override { return StreamHandshake<Stream>::summary(state_->stream); }

  // After the pending write, if there is one: what write_now() took is sent before the FIN.
  void shutdown_send() override {
    State& s = *state_;
    if (s.writing) {
      s.shutdown_after_write = true;
      return;
    }
    s.shutdown_now();
  }

  void close() override {
    boost::system::error_code ec;
    state_->stream.lowest_layer().close(ec);
  }

 protected:
  void start_wait_input(FrameDecoder& into, WaitHandler handler) override {
    auto room = into.prepare(kReadChunk);
    auto slot = handler.get_cancellation_slot();
    state_->stream.async_read_some(
        boost::asio::buffer(room.data(), room.size()),
        boost::asio::bind_cancellation_slot(
            slot, [&into, h = std::move(handler)](const boost::system::error_code& ec,
                                                  std::size_t n) mutable {
              into.commit(n);
              std::move(h)(ec);
            }));
  }

  void start_handshake(WaitHandler handler) override {
    auto slot = handler.get_cancellation_slot();
    StreamHandshake<Stream>::start(
        state_->stream,
        boost::asio::bind_cancellation_slot(
            slot, [h = std::move(handler)](const boost::system::error_code& ec) mutable {
              std::move(h)(ec);
            }));
  }

  void start_wait_writable(WaitHandler handler) override {
    State& s = *state_;
    if (!s.writing) {
      boost::asio::post(s.stream.get_executor(),
                        boost::asio::append(std::move(handler), s.write_error));
      return;
    }
    auto slot = handler.get_cancellation_slot();
    s.written.expires_at(boost::asio::steady_timer::time_point::max());
    s.written.async_wait(boost::asio::bind_cancellation_slot(
        slot, [state = state_, h = std::move(handler)](const boost::system::error_code&) mutable {
          // The signal ends the wait when the write completes; otherwise it was cancelled.
          auto ec = state->write_error;
          if (!ec && state->writing) ec = boost::asio::error::operation_aborted;
          std::move(h)(ec);
        }));
  }

 private:
  struct State {
    explicit State(Stream s) : stream(std::move(s)), written(stream.get_executor()) {}
    void shutdown_now() {
      boost::system::error_code ec;
      stream.lowest_layer().shutdown(boost::asio::socket_base::shutdown_send, ec);
    }
    Stream stream;
    Bytes out;  // what the pending write sends
    bool writing = false;
    bool shutdown_after_write = false;
    boost::system::error_code write_error;
    boost::asio::steady_timer written;  // a signal: cancelled when the pending write completes
  };
  std::shared_ptr<State> state_;
};

}  // namespace parley::server
