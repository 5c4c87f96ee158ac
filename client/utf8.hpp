// UTF-8 text as the terminal shows it: character boundaries and display columns. Widths come
// from wcwidth(), so they follow the process's LC_CTYPE (main() sets it from the environment).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley::client {

// Where the last character of `s` starts (0 for an empty string). A stray continuation byte
// counts as a character of its own.
std::size_t last_character_start(std::string_view s);

// Columns `s` takes on a terminal: wide characters count 2, combining ones 0; a character with
// no width of its own (invalid, or a control) counts 1, as it will be shown as a replacement.
std::size_t display_width(std::string_view s);

// Like display_width, but SGR colour sequences ("\x1b[...m") take no room.
std::size_t visible_width(std::string_view s);

// The longest prefix of `s`, cut at a character boundary, that fits in `columns`.
std::string_view fit_width(std::string_view s, std::size_t columns);

// The longest prefix of `s`, cut at a character boundary, of at most `bytes` bytes (at least one
// whole character when `bytes` allows none, so that splitting always makes progress).
std::string_view split_point(std::string_view s, std::size_t bytes);

}  // namespace parley::client
