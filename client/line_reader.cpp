#include "line_reader.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace parley::client {

namespace asio = boost::asio;

LineReader::LineReader(asio::any_io_executor ex, int fd, std::size_t max_line)
    : fd_(fd), max_line_(max_line) {
  // A duplicate, so that releasing the watcher never closes the caller's descriptor.
  const int dup = ::dup(fd);
  if (dup < 0) return;
  watcher_.emplace(ex);
  boost::system::error_code ec;
  watcher_->assign(dup, ec);
  if (ec) {
    ::close(dup);
    watcher_.reset();
  }
}

LineReader::~LineReader() = default;

std::optional<std::string> LineReader::take_line() {
  const auto newline = buffer_.find('\n');
  if (newline == std::string::npos) {
    if (buffer_.size() > max_line_) throw LineTooLong(lines_ + 1);
    if (!eof_ || buffer_.empty()) return std::nullopt;
    std::string last = std::move(buffer_);  // a final line without a newline
    buffer_.clear();
    ++lines_;
    return last;
  }
  std::string line = buffer_.substr(0, newline);
  buffer_.erase(0, newline + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > max_line_) throw LineTooLong(lines_ + 1);
  ++lines_;
  return line;
}

asio::awaitable<std::optional<std::string>> LineReader::next_line() {
  for (;;) {
    if (auto line = take_line()) co_return line;
    if (eof_) co_return std::nullopt;
    co_await read_more();
  }
}

asio::awaitable<std::string> LineReader::read_all(std::size_t max_bytes) {
  while (!eof_) {
    if (buffer_.size() > max_bytes) throw InputTooLong();
    co_await read_more();
  }
  if (buffer_.size() > max_bytes) throw InputTooLong();
  co_return std::exchange(buffer_, std::string());
}

asio::awaitable<void> LineReader::read_more() {
  for (;;) {
    if (watcher_) {
      auto [ec] = co_await watcher_->async_wait(asio::posix::stream_descriptor::wait_read,
                                                asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_not_supported) {
        // Asio accepts what epoll refuses (regular files, /dev/null) and fails the wait
        // instead: such input never blocks, so read it directly from now on.
        watcher_.reset();
      } else if (ec) {
        throw std::system_error(ec, "waiting for input");
      }
    }
    char chunk[16384];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw std::system_error(errno, std::generic_category(), "reading input");
    }
    if (n == 0)
      eof_ = true;
    else
      buffer_.append(chunk, static_cast<std::size_t>(n));
    co_return;
  }
}

}  // namespace parley::client
