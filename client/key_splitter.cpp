#include "key_splitter.hpp"

namespace parley::client {
namespace {

using Kind = Key::Kind;

Key of(Kind kind) {
  Key key;
  key.kind = kind;
  return key;
}

// Bytes a UTF-8 character starting with `lead` takes; 0 for a byte that cannot start one.
std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

// A key after "ESC x" (Alt-x) where x is one byte.
Key alt_key(unsigned char c) {
  if (c >= '1' && c <= '9') {
    Key key = of(Kind::alt_digit);
    key.digit = c - '0';
    return key;
  }
  switch (c) {
    case 'b':
      return of(Kind::word_left);
    case 'f':
      return of(Kind::word_right);
    case 'd':
      return of(Kind::alt_delete_word);
    case 0x7f:
    case 0x08:
      return of(Kind::alt_backspace);
    default:
      return of(Kind::ignored);
  }
}

// "ESC [ params final": parameters are digits and ';' (others: ignored sequence).
Key csi_key(std::string_view params, char final) {
  // xterm's modifier parameter: "1;5C" is Ctrl-Right, "1;3C" Alt-Right; 2 Shift, 5 Ctrl, 3 Alt.
  std::string_view modifier;
  if (const auto semi = params.find(';'); semi != std::string_view::npos) {
    modifier = params.substr(semi + 1);
    params = params.substr(0, semi);
  }
  const bool ctrl_held = modifier == "5" || modifier == "6";
  const bool alt_held = modifier == "3" || modifier == "4";
  switch (final) {
    case 'A':
      return of(Kind::up);
    case 'B':
      return of(Kind::down);
    case 'C':
      return of(ctrl_held ? Kind::word_right : alt_held ? Kind::alt_right : Kind::right);
    case 'D':
      return of(ctrl_held ? Kind::word_left : alt_held ? Kind::alt_left : Kind::left);
    case 'H':
      return of(Kind::home);
    case 'F':
      return of(Kind::end);
    case '~':
      if (params == "1" || params == "7") return of(Kind::home);
      if (params == "4" || params == "8") return of(Kind::end);
      if (params == "2") return of(Kind::insert);
      if (params == "3") return of(Kind::del);
      if (params == "5") return of(Kind::page_up);
      if (params == "6") return of(Kind::page_down);
      if (params == "200") return of(Kind::paste_begin);
      if (params == "201") return of(Kind::paste_end);
      return of(Kind::ignored);
    default:
      return of(Kind::ignored);
  }
}

Key ss3_key(char c) {
  switch (c) {
    case 'A':
      return of(Kind::up);
    case 'B':
      return of(Kind::down);
    case 'C':
      return of(Kind::right);
    case 'D':
      return of(Kind::left);
    case 'H':
      return of(Kind::home);
    case 'F':
      return of(Kind::end);
    default:
      return of(Kind::ignored);
  }
}

}  // namespace

std::optional<Key> KeySplitter::next() {
  if (buffer_.empty()) return std::nullopt;
  const auto take = [this](std::size_t n, Key key) {
    buffer_.erase(0, n);
    return std::optional<Key>(std::move(key));
  };
  const auto lead = static_cast<unsigned char>(buffer_[0]);

  if (lead == 0x1b) {
    if (buffer_.size() < 2) return std::nullopt;  // a lone Escape, or the start of a sequence
    const auto second = static_cast<unsigned char>(buffer_[1]);
    if (second == '[') {
      // CSI: parameter bytes 0x30-0x3f, intermediate bytes 0x20-0x2f, one final byte 0x40-0x7e.
      for (std::size_t i = 2; i < buffer_.size(); ++i) {
        const auto c = static_cast<unsigned char>(buffer_[i]);
        if (c >= 0x40 && c <= 0x7e) {
          const std::string_view params(buffer_.data() + 2, i - 2);
          const bool plain = params.find_first_not_of("0123456789;") == std::string_view::npos;
          return take(i + 1, plain ? csi_key(params, static_cast<char>(c)) : of(Kind::ignored));
        }
        if (c < 0x20 || c > 0x3f || i >= kMaxSequence) return take(i + 1, of(Kind::ignored));
      }
      return std::nullopt;  // its final byte has not arrived yet
    }
    if (second == 'O') {
      if (buffer_.size() < 3) return std::nullopt;
      return take(3, ss3_key(buffer_[2]));
    }
    if (second == 0x1b) {
      // "ESC ESC [ C": some terminals' Alt-arrow. Otherwise the first Escape was a key of its own.
      if (buffer_.size() >= 3 && buffer_[2] != '[' && buffer_[2] != 'O')
        return take(1, of(Kind::escape));
      if (buffer_.size() < 3) return std::nullopt;
      buffer_.erase(0, 1);
      std::optional<Key> inner = next();
      if (!inner) {
        buffer_.insert(0, 1, '\x1b');
        return std::nullopt;
      }
      if (inner->kind == Kind::left) inner->kind = Kind::alt_left;
      if (inner->kind == Kind::right) inner->kind = Kind::alt_right;
      return inner;
    }
    return take(2, alt_key(second));
  }

  if (lead < 0x20 || lead == 0x7f) {
    Key key = of(Kind::control);
    key.byte = lead;
    return take(1, key);
  }
  const std::size_t length = utf8_length(lead);
  if (length == 0) return take(1, of(Kind::ignored));
  for (std::size_t i = 1; i < length && i < buffer_.size(); ++i)
    if ((static_cast<unsigned char>(buffer_[i]) & 0xc0) != 0x80) return take(i, of(Kind::ignored));
  if (buffer_.size() < length) return std::nullopt;
  const auto c1 = static_cast<unsigned char>(buffer_[0]);
  if (length == 2 && c1 == 0xc2 && static_cast<unsigned char>(buffer_[1]) < 0xa0)
    return take(2, of(Kind::ignored));  // a C1 control character
  Key key = of(Kind::text);
  key.text = buffer_.substr(0, length);
  return take(length, std::move(key));
}

std::optional<Key> KeySplitter::flush() {
  if (buffer_.empty()) return std::nullopt;
  if (buffer_ == "\x1b") {
    buffer_.clear();
    return of(Kind::escape);
  }
  // A sequence or character cut short: what arrived is not a key anyone pressed on purpose.
  buffer_.clear();
  return of(Kind::ignored);
}

}  // namespace parley::client
