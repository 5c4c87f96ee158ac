// The interactive input line: libedit (native API) driven key by key from the event loop, so
// incoming messages print above what the user is typing while they type.
//
// The terminal's bytes are read by Asio and split into keys here (key_splitter.hpp: Escape
// sequences are told from a lone Escape by a 50 ms wait on the loop's timer, never by a blocking
// read). Each key either goes to libedit as one byte or character that it edits with (always a
// whole command, so libedit never reads on its own), or is handled here: Enter, Tab completion,
// Ctrl-R search (reverse_search.hpp), Ctrl-D, Ctrl-L, the room keys. The user's ~/.editrc is
// not read: a binding that makes libedit wait for another key would stop the event loop.
//
// Between the conversation and the input line sit the status rows (lines waiting for the
// server). Redrawing moves up over all of them and the input's wrapped rows, clears to the end
// of the screen and draws again, so a long input line or a resized window leaves nothing
// behind.
#pragma once

#include <histedit.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "key_splitter.hpp"
#include "reverse_search.hpp"

namespace parley::client {

struct InputLine {
  std::string text;
};
struct InputEnd {};  // Ctrl-D on an empty line, or the terminal has gone
struct InputRoomKey {
  int index = 0;  // Alt-1..Alt-9: the room with that number
  int step = 0;   // Alt-Left / Alt-Right: -1 / +1
};
struct InputInterrupt {};  // Ctrl-C that reached us as a key rather than as SIGINT
using Input = std::variant<InputLine, InputEnd, InputRoomKey, InputInterrupt>;

class LineEditor {
 public:
  // Candidates for completing `word` (the text between the last blank and the cursor); `before`
  // is the line before that word.
  using Completer =
      std::function<std::vector<std::string>(std::string_view before, std::string_view word)>;

  // Takes over the terminal on stdin/stdout (raw mode) until destroyed.
  LineEditor(boost::asio::any_io_executor ex, bool colour);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // The next thing the user did that the caller acts on.
  boost::asio::awaitable<Input> next_input();

  void set_prompt(std::string prompt);
  // The rows shown between the conversation and the input line (sanitized text), dimmed, each
  // cut to the window's width.
  void set_status(std::vector<std::string> rows);
  // Prints whole lines above the status rows and the input line, then redraws them.
  void print_above(std::string_view text);
  // SIGWINCH.
  void resize();
  // SIGTSTP (Ctrl-Z): the terminal back in its own mode, the process stopped; once continued
  // (fg), raw mode again and everything redrawn.
  void suspend();
  void set_completer(Completer completer) { completer_ = std::move(completer); }
  void bell();

  // Ctrl-C: ends a search, or else empties the input line. `nothing` when there was neither.
  enum class Interrupted { search, line, nothing };
  Interrupted interrupt();
  // Puts `text` back into the input line (a line the caller could not take).
  void restore(std::string_view text);

 private:
  static int read_char(EditLine* el, wchar_t* out);
  static char* prompt(EditLine* el);
  int next_char(wchar_t* out);

  std::optional<Input> handle(const Key& key);
  std::optional<Input> handle_search(const Key& key);
  std::optional<Input> submit();
  void feed(std::string_view bytes);  // one whole libedit command
  void complete();
  void start_search();
  void show_search();
  void end_search(bool keep_match);
  void read_terminal();

  std::string line() const;
  std::string line_before_cursor() const;
  bool line_empty() const;
  void replace_line(std::string_view text, std::size_t cursor);

  // Screen bookkeeping: wipe() takes the status rows and the input off the screen (the cursor
  // ends where the first status row was); draw() puts them back.
  void wipe();
  void draw();
  void restart_line();  // an empty input line, drawn
  std::size_t columns() const;
  void follow_width(std::size_t cols);
  std::size_t cursor_row() const;

  EditLine* el_ = nullptr;
  History* history_ = nullptr;
  boost::asio::posix::stream_descriptor watcher_;  // a dup of stdin, for readiness only
  boost::asio::steady_timer sequence_timer_;
  KeySplitter keys_;
  bool eof_ = false;
  bool colour_;

  std::string prompt_ = "> ";  // what libedit draws
  std::string normal_prompt_ = "> ";
  std::vector<std::string> status_;
  std::vector<std::size_t> status_widths_;  // columns each status row took when drawn
  std::size_t drawn_columns_ = 0;           // the width libedit last drew at
  std::deque<std::string> shown_;           // the last lines printed above, for a resize

  std::string command_;  // the bytes of the command libedit is reading
  std::size_t command_pos_ = 0;
  std::mbstate_t decode_state_{};

  std::vector<std::string> entered_;  // the history, oldest first (for Ctrl-R)
  std::optional<ReverseSearch> search_;
  std::string line_before_search_;
  std::size_t cursor_before_search_ = 0;

  Completer completer_;
};

}  // namespace parley::client
