#include "line_editor.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace parley::client {

namespace asio = boost::asio;

namespace {
constexpr int kHistorySize = 500;
constexpr wchar_t kCtrlD = 0x04;
}  // namespace

LineEditor::LineEditor(asio::any_io_executor ex) : watcher_(ex) {
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
  el_source(el_, nullptr);        // the user's ~/.editrc, as every libedit program does
  el_set(el_, EL_UNBUFFERED, 1);  // raw mode, prompt shown, one key per el_gets()
}

LineEditor::~LineEditor() {
  el_set(el_, EL_UNBUFFERED, 0);  // back to the terminal's own (cooked) mode
  std::fputs("\r\n", stdout);
  std::fflush(stdout);
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

// Only called when the event loop has bytes for libedit, except in the middle of a key
// sequence or character whose bytes have not all arrived: then it waits for them (they are
// already on their way from the terminal).
int LineEditor::next_char(wchar_t* out) {
  for (;;) {
    if (input_pos_ < input_.size()) {
      const std::size_t n =
          std::mbrtowc(out, input_.data() + input_pos_, input_.size() - input_pos_, &decode_state_);
      if (n == static_cast<std::size_t>(-2)) {  // incomplete: wait for the rest
        input_.erase(0, input_pos_);
        input_pos_ = 0;
        if (!fill_blocking()) return 0;
        continue;
      }
      if (n == static_cast<std::size_t>(-1)) {  // invalid: pass the byte on as it is
        decode_state_ = {};
        *out = static_cast<unsigned char>(input_[input_pos_++]);
        return 1;
      }
      input_pos_ += n == 0 ? 1 : n;
      return 1;
    }
    if (!fill_blocking()) return 0;
  }
}

bool LineEditor::fill_blocking() {
  char chunk[256];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n > 0) {
      input_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    eof_ = true;
    return false;
  }
}

void LineEditor::restart_line() {
  // Leaving and re-entering unbuffered mode is libedit's way to start a fresh line: it resets
  // the buffer and draws the prompt.
  el_set(el_, EL_UNBUFFERED, 0);
  el_set(el_, EL_UNBUFFERED, 1);
}

asio::awaitable<std::optional<std::string>> LineEditor::next_line() {
  for (;;) {
    while (input_pos_ < input_.size() && !eof_) {
      int count = 0;
      const char* buffer = el_gets(el_, &count);
      if (buffer == nullptr || count <= 0) continue;
      // Only `count` bytes are this line: libedit's conversion buffer may hold older text
      // beyond them.
      std::string line(buffer, static_cast<std::size_t>(count));
      if (line.size() == 1 && static_cast<wchar_t>(line[0]) == kCtrlD) co_return std::nullopt;
      if (line.empty() || line.back() != '\n') continue;  // still editing
      line.pop_back();
      entered_rows_ = rows_for(line);
      if (!line.empty()) {
        HistEvent ev;
        history(history_, &ev, H_ENTER, line.c_str());
      }
      restart_line();
      co_return line;
    }
    if (eof_) co_return std::nullopt;
    input_.clear();
    input_pos_ = 0;
    auto [ec] = co_await watcher_.async_wait(asio::posix::stream_descriptor::wait_read,
                                             asio::as_tuple(asio::use_awaitable));
    if (ec) co_return std::nullopt;
    if (!fill_blocking()) co_return std::nullopt;
  }
}

void LineEditor::set_prompt(std::string prompt) {
  prompt_ = std::move(prompt);
  el_set(el_, EL_REFRESH);
}

void LineEditor::print_above(std::string_view text) {
  // Wipe the input row, print, and let libedit redraw prompt and partial input beneath.
  std::fputs("\r\x1b[K", stdout);
  for (char c : text) {
    if (c == '\n') std::fputc('\r', stdout);
    std::fputc(c, stdout);
  }
  if (text.empty() || text.back() != '\n') std::fputs("\r\n", stdout);
  std::fflush(stdout);
  el_set(el_, EL_REFRESH);
}

void LineEditor::resize() {
  el_resize(el_);
}

std::size_t LineEditor::rows_for(const std::string& line) const {
  const std::string shown = prompt_ + line;
  std::wstring wide(shown.size() + 1, L'\0');
  const std::size_t n = std::mbstowcs(wide.data(), shown.c_str(), wide.size());
  int width = n == static_cast<std::size_t>(-1) ? static_cast<int>(shown.size())
                                                : ::wcswidth(wide.c_str(), n);
  if (width < 0) width = static_cast<int>(shown.size());
  winsize ws{};
  const std::size_t columns =
      ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  return std::max<std::size_t>(1, (static_cast<std::size_t>(width) + columns - 1) / columns);
}

void LineEditor::replace_entered(std::string_view text) {
  // The cursor is on the fresh prompt row, just below the rows the entered line took.
  std::fputs("\r\x1b[K", stdout);
  for (std::size_t i = 0; i < entered_rows_; ++i)
    std::fputs("\x1b[A\x1b[2K", stdout);
  entered_rows_ = 0;
  print_above(text);
}

}  // namespace parley::client
