// The authorized_keys file of auth mode "keys": which client keys may connect, and which
// nicks they reserve.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace parley::config {

struct AuthorizedKey {
  std::string fingerprint;  // "SHA256:" + 43 base64 characters, as fingerprint_of prints it
  std::optional<std::string> nick;
  bool operator==(const AuthorizedKey&) const = default;
};

struct AuthorizedKeys {
  std::vector<AuthorizedKey> keys;  // file order, fingerprints and folded nicks distinct

  bool contains(std::string_view fingerprint) const;
  std::optional<std::string> nick_of(std::string_view fingerprint) const;
  // The fingerprint of the key that owns this nick, compared case-insensitively via fold_name.
  std::optional<std::string> owner_of(std::string_view nick) const;
};

// Exactly what fingerprint_of prints: "SHA256:" and 43 characters of unpadded base64.
bool is_fingerprint(std::string_view text);

// One fingerprint per line, optionally followed by whitespace and a nick (is_valid_name)
// that the key owns. Blank lines and lines whose first non-blank character is '#' are
// ignored; CRLF line ends are accepted. Errors read "line 3: not a SHA256: fingerprint" and
// every bad line is reported.
std::variant<AuthorizedKeys, std::vector<std::string>> parse_authorized_keys(std::string_view text);

// Reads the file (at most 1 MiB, as the config file) and parses it; every error names the file.
std::variant<AuthorizedKeys, std::vector<std::string>> load_authorized_keys_file(
    const std::string& path);

}  // namespace parley::config
