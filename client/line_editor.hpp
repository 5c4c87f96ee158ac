// The interactive input line: libedit (native API) fed from the event loop, so incoming
// messages print above what the user is typing while they type.
//
// libedit reads characters through our EL_GETCFN hook, which hands it the bytes Asio saw
// arrive on the terminal; in EL_UNBUFFERED mode el_gets() returns after every key, so the
// loop never waits inside libedit for a whole line.
#pragma once

#include <histedit.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdio>
#include <cwchar>
#include <optional>
#include <string>
#include <string_view>

namespace parley::client {

class LineEditor {
 public:
  // Takes over the terminal on stdin/stdout (raw mode) until destroyed.
  explicit LineEditor(boost::asio::any_io_executor ex);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // The next line the user entered (without the newline); nullopt on Ctrl-D at an empty line
  // or when the terminal goes away.
  boost::asio::awaitable<std::optional<std::string>> next_line();

  void set_prompt(std::string prompt);
  // Prints whole lines above the input line, then redraws the prompt and what was typed.
  void print_above(std::string_view text);
  // Like print_above, but first wipes the line just entered from the screen (for a chat line
  // that is shown again, formatted, as the conversation goes on).
  void replace_entered(std::string_view text);
  // SIGWINCH.
  void resize();

 private:
  static int read_char(EditLine* el, wchar_t* out);
  static char* prompt(EditLine* el);
  int next_char(wchar_t* out);
  bool fill_blocking();
  void restart_line();
  std::size_t rows_for(const std::string& line) const;

  EditLine* el_ = nullptr;
  History* history_ = nullptr;
  boost::asio::posix::stream_descriptor watcher_;  // a dup of stdin, for readiness only
  std::string prompt_ = "> ";
  std::string input_;  // bytes from the terminal not yet given to libedit
  std::size_t input_pos_ = 0;
  std::mbstate_t decode_state_{};
  bool eof_ = false;
  std::size_t entered_rows_ = 0;  // screen rows the last entered line took, prompt included
};

}  // namespace parley::client
