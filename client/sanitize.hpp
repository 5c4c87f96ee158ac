// The one gate between a peer's text and the user's terminal. Everything the server (or another
// user through it) wrote passes through sanitize() before it is printed: a chat line, a nick, a
// welcome field or a close reason must never be able to move the cursor, retitle the terminal,
// switch screens, or hide and reorder text. Pure code.
#pragma once

#include <string>
#include <string_view>

namespace parley::client {

// `text` with every character a terminal could act on, or that is invisible or reorders what is
// shown, replaced by U+FFFD (so the user sees that something was there), and a tab turned into a
// space. Invalid UTF-8 bytes become U+FFFD too. Replaced:
//   C0 controls (line breaks included), DEL, C1 controls;
//   U+2028 and U+2029 (line and paragraph separators);
//   bidi marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A-U+202E,
//   U+2066-U+2069);
//   invisible characters: U+00AD soft hyphen, U+180E, U+200B zero width space, U+2060-U+2064
//   (word joiner, invisible operators), U+206A-U+206F (deprecated format controls), U+FEFF, and
//   U+FFF9-U+FFFB (interlinear annotation).
// Kept: U+200C and U+200D (zero width non-joiner and joiner). Persian and Indic scripts need them
// to be spelled right, and emoji sequences such as families are joined by U+200D; they neither
// reorder text nor act on the terminal.
std::string sanitize(std::string_view text);

}  // namespace parley::client
