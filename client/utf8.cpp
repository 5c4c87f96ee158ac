#include "utf8.hpp"

#include <cwchar>

namespace parley::client {
namespace {

bool continuation(unsigned char c) {
  return (c & 0xc0) == 0x80;
}

// The code point at s[at] and its length in bytes (an invalid byte: U+FFFD, one byte).
std::pair<char32_t, std::size_t> decode(std::string_view s, std::size_t at) {
  const auto lead = static_cast<unsigned char>(s[at]);
  std::size_t length = 0;
  char32_t cp = 0;
  if (lead < 0x80) return {lead, 1};
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    cp = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    cp = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    cp = lead & 0x07;
  } else {
    return {0xfffd, 1};
  }
  if (at + length > s.size()) return {0xfffd, 1};
  for (std::size_t i = 1; i < length; ++i) {
    const auto c = static_cast<unsigned char>(s[at + i]);
    if (!continuation(c)) return {0xfffd, 1};
    cp = (cp << 6) | (c & 0x3f);
  }
  return {cp, length};
}

std::size_t width_of(char32_t cp) {
  const int w = ::wcwidth(static_cast<wchar_t>(cp));
  return w < 0 ? 1 : static_cast<std::size_t>(w);
}

}  // namespace

std::size_t last_character_start(std::string_view s) {
  if (s.empty()) return 0;
  std::size_t at = s.size() - 1;
  // Back over at most three continuation bytes to the lead byte.
  for (int i = 0; i < 3 && at > 0 && continuation(static_cast<unsigned char>(s[at])); ++i)
    --at;
  if (decode(s, at).second == s.size() - at) return at;
  return s.size() - 1;
}

std::size_t display_width(std::string_view s) {
  std::size_t width = 0;
  for (std::size_t at = 0; at < s.size();) {
    const auto [cp, length] = decode(s, at);
    width += width_of(cp);
    at += length;
  }
  return width;
}

std::size_t visible_width(std::string_view s) {
  std::size_t width = 0;
  while (!s.empty()) {
    const auto escape = s.find("\x1b[");
    width += display_width(s.substr(0, escape));
    if (escape == std::string_view::npos) break;
    const auto end = s.find('m', escape);
    if (end == std::string_view::npos) break;
    s.remove_prefix(end + 1);
  }
  return width;
}

std::string_view fit_width(std::string_view s, std::size_t columns) {
  std::size_t width = 0;
  std::size_t at = 0;
  while (at < s.size()) {
    const auto [cp, length] = decode(s, at);
    const std::size_t w = width_of(cp);
    if (width + w > columns) break;
    width += w;
    at += length;
  }
  return s.substr(0, at);
}

std::string_view split_point(std::string_view s, std::size_t bytes) {
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t length = decode(s, at).second;
    if (at + length > bytes) break;
    at += length;
  }
  if (at == 0 && !s.empty()) at = decode(s, 0).second;
  return s.substr(0, at);
}

}  // namespace parley::client
