#include "sanitize.hpp"

namespace parley::client {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the UTF-8 sequence at s[i] and its code point; 0 when invalid.
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char b0 = byte(0);
  std::size_t len = b0 < 0x80           ? 1
                    : (b0 >> 5) == 0x6  ? 2
                    : (b0 >> 4) == 0xE  ? 3
                    : (b0 >> 3) == 0x1E ? 4
                                        : 0;
  if (len == 0 || i + len > s.size()) return 0;
  cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool in(char32_t cp, char32_t first, char32_t last) {
  return cp >= first && cp <= last;
}

// What sanitize.hpp lists, and why each group is there.
bool unsafe(char32_t cp) {
  return cp < 0x20 || in(cp, 0x7F, 0x9F) ||  // C0, DEL, C1: escape sequences and line breaks
         in(cp, 0x2028, 0x2029) ||           // line and paragraph separators
         cp == 0x061C || in(cp, 0x200E, 0x200F) || in(cp, 0x202A, 0x202E) ||
         in(cp, 0x2066, 0x2069) ||  // bidi marks, embeddings, overrides, isolates: reorder text
         cp == 0x00AD || cp == 0x180E || cp == 0x200B || in(cp, 0x2060, 0x2064) ||
         in(cp, 0x206A, 0x206F) || cp == 0xFEFF ||
         in(cp, 0xFFF9, 0xFFFB);  // invisible: hide what a name or a line really holds
}

}  // namespace

std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t len = decode_utf8(text, i, cp);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (cp == '\t')
      out += ' ';
    else if (unsafe(cp))
      out += kReplacement;
    else
      out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace parley::client
