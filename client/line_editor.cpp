#include "line_editor.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cwchar>
#include <stdexcept>

#include "utf8.hpp"

namespace parley::client {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr int kHistorySize = 500;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How long the bytes of one key sequence may take to arrive: a terminal sends them together;
// a person pressing Escape and then a key is far slower.
constexpr std::chrono::milliseconds kSequenceWait{50};
// Lines printed above the input that a resize can show again.
constexpr std::size_t kLinesKept = 500;

// The single bytes libedit receives for the keys it edits with. Those that libedit binds
// differently by default, or not at all, are bound in the constructor; the last five are free
// control characters used for keys a terminal sends as sequences (the same bytes typed by the
// user are dropped, see kPassedToLibedit).
constexpr char kToStart = 0x01;         // Ctrl-A, Home
constexpr char kBack = 0x02;            // Ctrl-B, Left
constexpr char kToEnd = 0x05;           // Ctrl-E, End
constexpr char kForward = 0x06;         // Ctrl-F, Right
constexpr char kNewer = 0x0e;           // Ctrl-N, Down
constexpr char kOlder = 0x10;           // Ctrl-P, Up
constexpr char kDeleteWordBack = 0x17;  // Ctrl-W, Alt-Backspace
constexpr char kDeleteWord = 0x1c;      // Alt-d
constexpr char kWordBack = 0x1d;        // Ctrl-Left, Alt-b
constexpr char kWordForward = 0x1e;     // Ctrl-Right, Alt-f
constexpr char kDeleteForward = 0x1f;   // Delete

// Control keys the user types that go to libedit as they are (emacs bindings, as in bash).
constexpr std::string_view kPassedToLibedit =
    "\x01\x02\x05\x06\x08\x0b\x0e\x10\x14\x15\x17\x19\x7f";

std::size_t characters(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xc0) != 0x80) ++n;
  return n;
}

void put(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
}

}  // namespace

LineEditor::LineEditor(asio::any_io_executor ex, bool colour)
    : watcher_(ex), sequence_timer_(ex), colour_(colour) {
  const int fd = ::dup(STDIN_FILENO);
  if (fd < 0) throw std::runtime_error("cannot duplicate stdin");
  watcher_.assign(fd);

  el_ = el_init("parley", stdin, stdout, stderr);
  if (!el_) throw std::runtime_error("cannot initialise libedit on this terminal");
  history_ = history_init();
  HistEvent ev;
  history(history_, &ev, H_SETSIZE, kHistorySize);
  history(history_, &ev, H_SETUNIQUE, 1);

  el_set(el_, EL_CLIENTDATA, this);
  el_set(el_, EL_EDITOR, "emacs");
  el_set(el_, EL_SIGNAL, 0);  // SIGINT, SIGTERM and SIGWINCH are the event loop's
  el_set(el_, EL_HIST, history, history_);
  el_set(el_, EL_PROMPT, &LineEditor::prompt);
  el_set(el_, EL_GETCFN, &LineEditor::read_char);
  // bash's meaning for Ctrl-W (libedit's emacs mode kills the region), and the private bytes.
  el_set(el_, EL_BIND, "^W", "ed-delete-prev-word", nullptr);
  el_set(el_, EL_BIND, "^\\", "em-delete-next-word", nullptr);
  el_set(el_, EL_BIND, "^]", "ed-prev-word", nullptr);
  el_set(el_, EL_BIND, "^^", "em-next-word", nullptr);
  el_set(el_, EL_BIND, "^_", "ed-delete-next-char", nullptr);
  el_set(el_, EL_UNBUFFERED, 1);  // raw mode, prompt shown, one key per el_gets()
  std::fflush(stdout);
}

LineEditor::~LineEditor() {
  wipe();
  std::fflush(stdout);
  el_set(el_, EL_UNBUFFERED, 0);  // back to the terminal's own (cooked) mode
  el_end(el_);
  history_end(history_);
}

char* LineEditor::prompt(EditLine* el) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<LineEditor*>(self)->prompt_.data();
}

int LineEditor::read_char(EditLine* el, wchar_t* out) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<LineEditor*>(self)->next_char(out);
}

// libedit only ever asks for the characters of the command it is given (feed()).
int LineEditor::next_char(wchar_t* out) {
  if (command_pos_ >= command_.size()) return 0;
  const std::size_t n = std::mbrtowc(out, command_.data() + command_pos_,
                                     command_.size() - command_pos_, &decode_state_);
  if (n == static_cast<std::size_t>(-1) || n == static_cast<std::size_t>(-2)) {
    decode_state_ = {};  // not a character in this locale: pass the byte on as it is
    *out = static_cast<unsigned char>(command_[command_pos_++]);
    return 1;
  }
  command_pos_ += n == 0 ? 1 : n;
  return 1;
}

void LineEditor::feed(std::string_view bytes) {
  command_.assign(bytes);
  command_pos_ = 0;
  // Each el_gets() consumes at least one character (EL_UNBUFFERED); bounded by the byte count.
  for (std::size_t i = 0; i <= bytes.size() && command_pos_ < command_.size(); ++i) {
    int count = 0;
    el_gets(el_, &count);
  }
  command_.clear();
  command_pos_ = 0;
  std::fflush(stdout);
}

void LineEditor::read_terminal() {
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n > 0) {
      keys_.feed(std::string_view(chunk, static_cast<std::size_t>(n)));
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    eof_ = true;
    return;
  }
}

asio::awaitable<Input> LineEditor::next_input() {
  for (;;) {
    while (auto key = keys_.next())
      if (auto input = handle(*key)) co_return *input;
    if (eof_) co_return InputEnd{};
    if (keys_.pending()) {
      // The start of a sequence: its other bytes are on their way, or it was a lone Escape.
      sequence_timer_.expires_after(kSequenceWait);
      auto outcome =
          co_await (watcher_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple) ||
                    sequence_timer_.async_wait(use_tuple));
      if (outcome.index() == 1) {
        if (auto key = keys_.flush())
          if (auto input = handle(*key)) co_return *input;
        continue;
      }
      if (std::get<0>(std::get<0>(outcome))) co_return InputEnd{};
    } else {
      auto [ec] =
          co_await watcher_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
      if (ec) co_return InputEnd{};
    }
    read_terminal();
  }
}

std::optional<Input> LineEditor::handle(const Key& key) {
  if (search_) return handle_search(key);
  using Kind = Key::Kind;
  switch (key.kind) {
    case Kind::text:
      feed(key.text);
      return std::nullopt;
    case Kind::control:
      switch (key.byte) {
        case '\r':
        case '\n':
          return submit();
        case '\t':
          complete();
          return std::nullopt;
        case ctrl('d'):
          if (line_empty()) return InputEnd{};
          feed(std::string_view(&kDeleteForward, 1));
          return std::nullopt;
        case ctrl('r'):
          start_search();
          return std::nullopt;
        case ctrl('l'):
          put("\x1b[H\x1b[2J");
          status_widths_.assign(status_widths_.size(), 0);
          draw();
          return std::nullopt;
        case ctrl('c'):
          return InputInterrupt{};
        default:
          if (kPassedToLibedit.find(static_cast<char>(key.byte)) != std::string_view::npos) {
            const char c = static_cast<char>(key.byte);
            feed(std::string_view(&c, 1));
          }
          return std::nullopt;
      }
    case Kind::home:
      feed(std::string_view(&kToStart, 1));
      return std::nullopt;
    case Kind::end:
      feed(std::string_view(&kToEnd, 1));
      return std::nullopt;
    case Kind::left:
      feed(std::string_view(&kBack, 1));
      return std::nullopt;
    case Kind::right:
      feed(std::string_view(&kForward, 1));
      return std::nullopt;
    case Kind::up:
      feed(std::string_view(&kOlder, 1));
      return std::nullopt;
    case Kind::down:
      feed(std::string_view(&kNewer, 1));
      return std::nullopt;
    case Kind::del:
      feed(std::string_view(&kDeleteForward, 1));
      return std::nullopt;
    case Kind::word_left:
      feed(std::string_view(&kWordBack, 1));
      return std::nullopt;
    case Kind::word_right:
      feed(std::string_view(&kWordForward, 1));
      return std::nullopt;
    case Kind::alt_delete_word:
      feed(std::string_view(&kDeleteWord, 1));
      return std::nullopt;
    case Kind::alt_backspace:
      feed(std::string_view(&kDeleteWordBack, 1));
      return std::nullopt;
    case Kind::alt_digit:
      return InputRoomKey{key.digit, 0};
    case Kind::alt_left:
      return InputRoomKey{0, -1};
    case Kind::alt_right:
      return InputRoomKey{0, +1};
    case Kind::escape:  // a lone Escape does nothing, as in bash
    case Kind::insert:
    case Kind::page_up:  // bash leaves these unbound
    case Kind::page_down:
    case Kind::paste_begin:
    case Kind::paste_end:
    case Kind::ignored:
      return std::nullopt;
  }
  return std::nullopt;
}

// The search as bash runs it: typing narrows it, Ctrl-R goes further back, Enter runs the line
// found, Escape keeps it for editing, Ctrl-G puts back what was there; any other editing key
// keeps the line found and then does what it does.
std::optional<Input> LineEditor::handle_search(const Key& key) {
  if (key.kind == Key::Kind::text) {
    search_->type(key.text);
    show_search();
    return std::nullopt;
  }
  if (key.is_control(0x7f) || key.is_control(ctrl('h'))) {
    search_->erase();
    show_search();
    return std::nullopt;
  }
  if (key.is_control(ctrl('r'))) {
    search_->older();
    show_search();
    return std::nullopt;
  }
  if (key.is_control(ctrl('g'))) {
    end_search(false);
    return std::nullopt;
  }
  if (key.is_control(ctrl('c'))) return InputInterrupt{};
  if (key.kind == Key::Kind::ignored || key.kind == Key::Kind::paste_begin ||
      key.kind == Key::Kind::paste_end)
    return std::nullopt;
  end_search(true);
  if (key.kind == Key::Kind::escape) return std::nullopt;
  return handle(key);
}

void LineEditor::start_search() {
  line_before_search_ = line();
  cursor_before_search_ = line_before_cursor().size();
  search_.emplace(entered_);
  show_search();
}

void LineEditor::show_search() {
  wipe();
  prompt_ = std::string(search_->failing() ? "(failed reverse-i-search)`" : "(reverse-i-search)`") +
            search_->query() + "': ";
  if (auto match = search_->match())
    replace_line(entered_[*match], search_->offset());
  else if (search_->query().empty())
    replace_line(line_before_search_, cursor_before_search_);
  draw();
}

void LineEditor::end_search(bool keep_match) {
  wipe();
  if (!keep_match) replace_line(line_before_search_, cursor_before_search_);
  search_.reset();
  prompt_ = normal_prompt_;
  draw();
}

std::optional<Input> LineEditor::submit() {
  std::string text = line();
  if (!text.empty()) {
    HistEvent ev;
    history(history_, &ev, H_ENTER, text.c_str());
    if (entered_.empty() || entered_.back() != text) entered_.push_back(text);
    if (entered_.size() > static_cast<std::size_t>(kHistorySize)) entered_.erase(entered_.begin());
  }
  wipe();
  restart_line();
  return InputLine{std::move(text)};
}

void LineEditor::complete() {
  if (!completer_) return;
  const std::string before = line_before_cursor();
  const auto blank = before.find_last_of(' ');
  const std::size_t word_start = blank == std::string::npos ? 0 : blank + 1;
  const std::string_view word = std::string_view(before).substr(word_start);
  const std::vector<std::string> candidates =
      completer_(std::string_view(before).substr(0, word_start), word);
  if (candidates.empty()) {
    bell();
    return;
  }
  std::string common = candidates.front();
  for (const auto& c : candidates) {
    std::size_t n = 0;
    while (n < common.size() && n < c.size() && common[n] == c[n])
      ++n;
    common.resize(n);
  }
  common.resize(last_character_start(common + " "));  // never half a character
  if (candidates.size() == 1) common = candidates.front() + " ";
  if (candidates.size() > 1 && common.size() <= word.size()) {
    std::string list;
    for (const auto& c : candidates)
      list += (list.empty() ? "" : "  ") + c;
    print_above(list);
    return;
  }
  wipe();
  el_deletestr(el_, static_cast<int>(characters(word)));
  el_insertstr(el_, common.c_str());
  draw();
}

LineEditor::Interrupted LineEditor::interrupt() {
  if (search_) {
    end_search(false);
    return Interrupted::search;
  }
  if (line_empty()) return Interrupted::nothing;
  wipe();
  restart_line();
  return Interrupted::line;
}

void LineEditor::restore(std::string_view text) {
  wipe();
  replace_line(text, text.size());
  draw();
}

void LineEditor::set_prompt(std::string prompt) {
  normal_prompt_ = std::move(prompt);
  if (search_ || normal_prompt_ == prompt_) return;
  wipe();
  prompt_ = normal_prompt_;
  draw();
}

void LineEditor::set_status(std::vector<std::string> rows) {
  if (rows == status_) return;
  wipe();
  status_ = std::move(rows);
  draw();
}

void LineEditor::print_above(std::string_view text) {
  wipe();
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = text.substr(start, end - start);
    put(line);
    put("\r\n");
    shown_.emplace_back(line);
    if (shown_.size() > kLinesKept) shown_.pop_front();
    start = end + 1;
  }
  draw();
}

void LineEditor::resize() {
  // Terminals re-flow what they show to a new width each in their own way (and several resizes
  // may come before we hear of one), so where the input's rows ended up cannot be worked out.
  // Start from a clean screen instead, with as much of the conversation as fits above the
  // input line, as full-screen clients do.
  winsize ws{};
  const std::size_t rows =
      ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 ? ws.ws_row : 24;
  const std::size_t cols = columns();
  const auto rows_of = [cols](std::size_t width) {
    return std::max<std::size_t>(1, (width + cols - 1) / cols);
  };
  std::size_t used = rows_of(display_width(prompt_) + display_width(line()));
  for (const auto& row : status_)
    used += rows_of(display_width(fit_width(row, cols - 1)));
  std::size_t first = shown_.size();
  while (first > 0 && used + rows_of(visible_width(shown_[first - 1])) < rows)
    used += rows_of(visible_width(shown_[--first]));
  put("\x1b[H\x1b[2J");
  for (std::size_t i = first; i < shown_.size(); ++i) {
    put(shown_[i]);
    put("\r\n");
  }
  status_widths_.clear();
  draw();
}

void LineEditor::suspend() {
  wipe();
  std::fflush(stdout);
  el_set(el_, EL_PREP_TERM, 0);  // cooked mode, as the shell expects it
  ::kill(::getpid(), SIGSTOP);   // the default action of SIGTSTP, which we caught
  el_set(el_, EL_PREP_TERM, 1);  // continued: raw mode again
  draw();
}

void LineEditor::bell() {
  put("\a");
  std::fflush(stdout);
}

std::string LineEditor::line() const {
  const LineInfo* info = el_line(el_);
  return std::string(info->buffer, static_cast<std::size_t>(info->lastchar - info->buffer));
}

std::string LineEditor::line_before_cursor() const {
  const LineInfo* info = el_line(el_);
  return std::string(info->buffer, static_cast<std::size_t>(info->cursor - info->buffer));
}

bool LineEditor::line_empty() const {
  const LineInfo* info = el_line(el_);
  return info->lastchar == info->buffer;
}

void LineEditor::replace_line(std::string_view text, std::size_t cursor) {
  const LineInfoW* info = el_wline(el_);
  el_cursor(el_, static_cast<int>(info->lastchar - info->cursor));
  info = el_wline(el_);
  el_wdeletestr(el_, static_cast<int>(info->lastchar - info->buffer));
  if (!text.empty()) el_insertstr(el_, std::string(text).c_str());
  el_cursor(el_, -static_cast<int>(characters(text.substr(std::min(cursor, text.size())))));
}

std::size_t LineEditor::columns() const {
  winsize ws{};
  return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

std::size_t LineEditor::cursor_row() const {
  return (display_width(prompt_) + display_width(line_before_cursor())) / columns();
}

void LineEditor::wipe() {
  const std::size_t cols = columns();
  std::size_t up = cursor_row();
  for (std::size_t width : status_widths_)
    up += std::max<std::size_t>(1, (width + cols - 1) / cols);
  put("\r");
  if (up > 0) put("\x1b[" + std::to_string(up) + "A");
  put("\x1b[J");
  status_widths_.clear();
}

void LineEditor::draw() {
  // Each row stays one column short of the edge, so that no terminal wraps it.
  const std::size_t cols = columns();
  follow_width(cols);
  for (const auto& row : status_) {
    const std::string_view shown = fit_width(row, cols > 1 ? cols - 1 : 1);
    put(colour_ ? "\x1b[2m" : "");
    put(shown);
    put(colour_ ? "\x1b[0m\r\n" : "\r\n");
    status_widths_.push_back(display_width(shown));
  }
  el_set(el_, EL_REFRESH);  // libedit draws prompt and input from here, its cursor at (0, 0)
  std::fflush(stdout);
}

void LineEditor::follow_width(std::size_t cols) {
  // A message may be drawn before SIGWINCH is handled: libedit must draw at the width wipe()
  // measured with, not the one it last heard of.
  if (cols == drawn_columns_) return;
  drawn_columns_ = cols;
  el_resize(el_);
}

void LineEditor::restart_line() {
  follow_width(columns());
  // Leaving and re-entering unbuffered mode is libedit's way to start a fresh line: it empties
  // the buffer, resets the history position, and draws the prompt where the cursor is.
  for (const auto& row : status_) {
    const std::string_view shown = fit_width(row, columns() > 1 ? columns() - 1 : 1);
    put(colour_ ? "\x1b[2m" : "");
    put(shown);
    put(colour_ ? "\x1b[0m\r\n" : "\r\n");
    status_widths_.push_back(display_width(shown));
  }
  el_set(el_, EL_UNBUFFERED, 0);
  el_set(el_, EL_UNBUFFERED, 1);
  std::fflush(stdout);
}

}  // namespace parley::client
