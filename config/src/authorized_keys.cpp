#include "parley/authorized_keys.hpp"

#include <algorithm>
#include <cstddef>
#include <string>

#include "parley/bounded_file.hpp"
#include "parley/names.hpp"

namespace parley::config {
namespace {

constexpr std::string_view kPrefix = "SHA256:";
constexpr std::size_t kBase64Chars = 43;  // 32 digest bytes, unpadded
constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string line_error(std::size_t line, std::string_view what) {
  return "line " + std::to_string(line) + ": " + std::string(what);
}

}  // namespace

// The last character carries only 4 digest bits, so its low 2 bits must be zero: otherwise two
// spellings would name one key and lookups would miss.
bool is_fingerprint(std::string_view s) {
  if (!s.starts_with(kPrefix) || s.size() != kPrefix.size() + kBase64Chars) return false;
  s.remove_prefix(kPrefix.size());
  for (char c : s)
    if (kBase64.find(c) == std::string_view::npos) return false;
  return kBase64.find(s.back()) % 4 == 0;
}

bool AuthorizedKeys::contains(std::string_view fingerprint) const {
  return std::any_of(keys.begin(), keys.end(),
                     [&](const AuthorizedKey& k) { return k.fingerprint == fingerprint; });
}

std::optional<std::string> AuthorizedKeys::nick_of(std::string_view fingerprint) const {
  for (const auto& k : keys)
    if (k.fingerprint == fingerprint) return k.nick;
  return std::nullopt;
}

std::optional<std::string> AuthorizedKeys::owner_of(std::string_view nick) const {
  const std::string folded = fold_name(nick);
  for (const auto& k : keys)
    if (k.nick && fold_name(*k.nick) == folded) return k.fingerprint;
  return std::nullopt;
}

std::variant<AuthorizedKeys, std::vector<std::string>> parse_authorized_keys(
    std::string_view text) {
  AuthorizedKeys result;
  std::vector<std::size_t> line_of;  // parallel to result.keys, for duplicate messages
  std::vector<std::string> errors;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') continue;

    const std::size_t split = std::find_if(line.begin(), line.end(), is_blank) - line.begin();
    const std::string_view fingerprint = line.substr(0, split);
    const std::string_view rest = trim(line.substr(split));
    const std::size_t nick_end = std::find_if(rest.begin(), rest.end(), is_blank) - rest.begin();
    const std::string_view nick = rest.substr(0, nick_end);

    if (!is_fingerprint(fingerprint)) {
      errors.push_back(line_error(line_number, "not a SHA256: fingerprint"));
      continue;
    }
    if (!trim(rest.substr(nick_end)).empty()) {
      errors.push_back(line_error(line_number, "unexpected text after the nick"));
      continue;
    }
    if (!nick.empty() && !is_valid_name(nick)) {
      errors.push_back(
          line_error(line_number, "not a valid nick (1 to 32 characters from A-Z a-z 0-9 _ . -)"));
      continue;
    }
    bool duplicate = false;
    for (std::size_t i = 0; i < result.keys.size() && !duplicate; ++i) {
      const AuthorizedKey& k = result.keys[i];
      if (k.fingerprint == fingerprint) {
        errors.push_back(line_error(
            line_number, "duplicate fingerprint, first on line " + std::to_string(line_of[i])));
        duplicate = true;
      } else if (!nick.empty() && k.nick && fold_name(*k.nick) == fold_name(nick)) {
        errors.push_back(line_error(line_number, "nick \"" + std::string(nick) +
                                                     "\" is already owned by the key on line " +
                                                     std::to_string(line_of[i])));
        duplicate = true;
      }
    }
    if (duplicate) continue;
    result.keys.push_back(
        AuthorizedKey{std::string(fingerprint),
                      nick.empty() ? std::nullopt : std::optional<std::string>(std::string(nick))});
    line_of.push_back(line_number);
  }
  if (!errors.empty()) return errors;
  return result;
}

std::variant<AuthorizedKeys, std::vector<std::string>> load_authorized_keys_file(
    const std::string& path) {
  auto text = read_bounded_file(path);
  if (auto* error = std::get_if<FileError>(&text)) return std::vector<std::string>{error->message};
  auto parsed = parse_authorized_keys(std::get<std::string>(text));
  if (auto* errors = std::get_if<std::vector<std::string>>(&parsed)) {
    for (auto& e : *errors)
      e = "authorized_keys " + path + ": " + e;
  }
  return parsed;
}

}  // namespace parley::config
