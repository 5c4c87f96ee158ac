#include "connection.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

namespace parley::bench {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Sent bytes kept for reuse up to this much; more is released once written.
constexpr std::size_t kKeepOut = 64 * 1024;

}  // namespace

Connection::Connection(asio::any_io_executor executor, std::unique_ptr<Codec> codec,
                       ConnectionOwner& owner, std::size_t index, ReadBuffer& read_buffer)
    : socket_(executor),
      codec_(std::move(codec)),
      owner_(owner),
      index_(index),
      read_buffer_(read_buffer) {}

void Connection::spawn(std::shared_ptr<Connection> self, tcp::endpoint server) {
  auto executor = self->socket_.get_executor();
  asio::co_spawn(executor, hold(std::move(self), server), asio::detached);
}

awaitable<void> Connection::hold(std::shared_ptr<Connection> self, tcp::endpoint server) {
  co_await self->run(server);
}

awaitable<void> Connection::run(tcp::endpoint server) {
  auto [connect_ec] = co_await socket_.async_connect(server, use_tuple);
  if (closed_) co_return;
  if (connect_ec) {
    end("connect: " + connect_ec.message(), true);
    co_return;
  }
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  codec_->start(out_);
  flush();

  const int fd = socket_.native_handle();
  while (!closed_) {
    auto [wait_ec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
    if (closed_) break;
    if (wait_ec) {
      end("wait: " + wait_ec.message(), true);
      break;
    }
    // Drain what is there, but give other connections a turn after a few full buffers.
    for (int round = 0; round < 4 && !closed_; ++round) {
      const ssize_t n = ::recv(fd, read_buffer_.data(), read_buffer_.size(), 0);
      if (n > 0) {
        codec_->on_bytes(ByteView(read_buffer_.data(), static_cast<std::size_t>(n)), out_, *this);
        if (closed_) break;
        flush();
        if (static_cast<std::size_t>(n) < read_buffer_.size()) break;
        continue;
      }
      if (n == 0) {
        end("the server closed the connection", true);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        end(std::string("recv: ") + std::strerror(errno), true);
      }
      break;
    }
  }
}

// Publishes leave once per loop turn, like a client that writes what it has after handling a
// read: the messages a burst of deliveries released go out in one send.
void Connection::publish(std::size_t room, std::string_view text) {
  if (closed_) return;
  codec_->publish(room, text, out_);
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void Connection::close() {
  if (closed_) return;
  codec_->close(out_);
  flush();
  end("closed", false);
}

void Connection::drop() {
  end("dropped", false);
}

void Connection::flush() {
  if (closed_ || write_waiting_) return;
  while (out_pos_ < out_.size()) {
    const ssize_t n = ::send(socket_.native_handle(), out_.data() + out_pos_,
                             out_.size() - out_pos_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_pos_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      write_waiting_ = true;
      asio::co_spawn(socket_.get_executor(), wait_writable(shared_from_this()), asio::detached);
      return;
    }
    end(std::string("send: ") + std::strerror(errno), true);
    return;
  }
  out_.clear();
  out_pos_ = 0;
  if (out_.capacity() > kKeepOut) Bytes().swap(out_);
}

awaitable<void> Connection::wait_writable(std::shared_ptr<Connection> self) {
  auto [ec] = co_await self->socket_.async_wait(tcp::socket::wait_write, use_tuple);
  self->write_waiting_ = false;
  if (ec || self->closed_) co_return;
  self->flush();
}

void Connection::end(std::string_view why, bool notify) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.close(ec);
  if (notify) owner_.on_closed(*this, why);
}

void Connection::on_ready() {
  if (ready_) return;
  ready_ = true;
  owner_.on_ready(*this);
}

void Connection::on_message(std::string_view text) {
  owner_.on_message(*this, text);
}

void Connection::on_unread_message() {
  owner_.on_unread_message(*this);
}

void Connection::on_failure(std::string_view what) {
  // Whatever the codec queued (a reply to the failure) is not sent: the connection ends here.
  end(what, true);
}

}  // namespace parley::bench
