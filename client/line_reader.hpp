// Lines from a file descriptor (stdin) without blocking the event loop: a pipe, socket or
// terminal is awaited with epoll; a regular file or /dev/null, which epoll refuses and which
// never blocks, is read directly. Lines are bounded, so no input can grow our memory.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

namespace parley::client {

class LineTooLong : public std::length_error {
 public:
  explicit LineTooLong(std::size_t line) : std::length_error("line too long"), line_(line) {}
  std::size_t line() const { return line_; }

 private:
  std::size_t line_;
};

// All of the input was asked for at once (--stdin-message) and it is longer than allowed.
class InputTooLong : public std::length_error {
 public:
  InputTooLong() : std::length_error("input too long") {}
};

class LineReader {
 public:
  // Does not own `fd`. Lines longer than max_line bytes throw LineTooLong.
  LineReader(boost::asio::any_io_executor ex, int fd, std::size_t max_line);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its "\n" (and without a "\r" before it); nullopt at end of input.
  // A last line without a newline is still a line.
  boost::asio::awaitable<std::optional<std::string>> next_line();
  std::size_t lines_read() const { return lines_; }

  // Everything up to the end of input as one string; InputTooLong past max_bytes.
  boost::asio::awaitable<std::string> read_all(std::size_t max_bytes);

 private:
  std::optional<std::string> take_line();
  // One read's worth more into buffer_ (waiting for it without blocking), or eof_.
  boost::asio::awaitable<void> read_more();

  int fd_;
  std::size_t max_line_;
  std::optional<boost::asio::posix::stream_descriptor> watcher_;  // empty: not pollable
  std::string buffer_;
  bool eof_ = false;
  std::size_t lines_ = 0;
};

}  // namespace parley::client
