// Small text helpers the client's parsers share.
#pragma once

#include <string_view>

namespace parley::client {

// `s` without leading and trailing blanks (space, tab, CR, LF).
inline std::string_view trim_blanks(std::string_view s) {
  constexpr std::string_view kBlanks = " \t\r\n";
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

}  // namespace parley::client
