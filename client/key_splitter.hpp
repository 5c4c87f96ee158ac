// The keys in the bytes a terminal sends. Pure code.
//
// A terminal sends most keys as one byte, but some as sequences that start with Escape (Home is
// "\x1b[1~" in tmux, "\x1b[H" or "\x1bOH" elsewhere; Alt-x is "\x1bx"), and a lone Escape is
// also a key. The two can only be told apart by time: the bytes of a sequence arrive together,
// a person's next key does not. So the splitter says when what it holds could still be the
// start of a sequence (pending()); the caller waits a little (about 50 ms) for more bytes and
// then calls flush(), which takes what is there as it is. Nothing here ever waits.
//
// libedit cannot do this: it waits for the byte after an Escape with no timeout, inside its own
// read, which would stop the whole event loop.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace parley::client {

struct Key {
  enum class Kind {
    text,     // one printable character (UTF-8, in `text`)
    control,  // a C0 control byte or DEL (in `byte`): Enter, Tab, Backspace, Ctrl-letter
    escape,   // a lone Escape
    home,
    end,
    del,  // the Delete key (forward delete)
    insert,
    page_up,
    page_down,
    up,
    down,
    left,
    right,
    word_left,        // Ctrl-Left, Alt-b
    word_right,       // Ctrl-Right, Alt-f
    alt_left,         // Alt-Left: the previous room
    alt_right,        // Alt-Right: the next room
    alt_digit,        // Alt-1..Alt-9 (in `digit`)
    alt_delete_word,  // Alt-d
    alt_backspace,    // Alt-Backspace
    paste_begin,      // bracketed paste markers
    paste_end,
    ignored,  // a sequence this program has no use for (F-keys, mouse, Alt-other, invalid bytes)
  };
  Kind kind = Kind::ignored;
  std::string text;
  unsigned char byte = 0;
  int digit = 0;

  bool is_control(unsigned char c) const { return kind == Kind::control && byte == c; }
};

constexpr unsigned char ctrl(char letter) {
  return static_cast<unsigned char>(letter & 0x1f);
}

class KeySplitter {
 public:
  // Longest escape sequence kept while waiting for its end; longer ones are dropped.
  static constexpr std::size_t kMaxSequence = 32;

  void feed(std::string_view bytes) { buffer_.append(bytes); }

  // The next whole key, or nullopt when nothing is left but (perhaps) the start of a sequence.
  std::optional<Key> next();

  // Bytes wait that may be the start of a longer key.
  bool pending() const { return !buffer_.empty(); }

  // The wait for the rest is over: a lone Escape is the Escape key, Escape + one byte is Alt and
  // that byte; anything else cut short is dropped. Call next() again afterwards.
  std::optional<Key> flush();

 private:
  std::string buffer_;
};

}  // namespace parley::client
