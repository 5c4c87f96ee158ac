// known_hosts: the server fingerprints a user has accepted, one "host:port SHA256:..." per line
// (PROTOCOL.md 2.4), like OpenSSH's file of the same name. Lookup is pure code over the file's
// text; reading and appending are the thin file layer beside it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::client {

struct KnownHost {
  std::string name;         // known_hosts_name()
  std::string fingerprint;  // "SHA256:..."
  std::size_t line = 0;     // 1-based, for messages that point the user at it
};

enum class HostKeyStatus { unknown, matches, changed };

struct HostKeyLookup {
  HostKeyStatus status = HostKeyStatus::unknown;
  // For `changed`: the recorded entry that differs (the first one for this host).
  std::optional<KnownHost> recorded;
};

class KnownHosts {
 public:
  // Blank lines and '#' comments are skipped, and so are malformed lines (counted, so the
  // caller can warn): a damaged line must not make a host unknown when another line knows it.
  static KnownHosts parse(std::string_view text);

  // A host matches when any of its lines carries `fingerprint`, as with OpenSSH.
  HostKeyLookup lookup(std::string_view name, std::string_view fingerprint) const;

  const std::vector<KnownHost>& entries() const { return entries_; }
  std::size_t malformed_lines() const { return malformed_; }
  std::size_t line_count() const { return lines_; }

 private:
  std::vector<KnownHost> entries_;
  std::size_t malformed_ = 0;
  std::size_t lines_ = 0;
};

// True for "SHA256:" followed by 43 characters of unpadded base64: the only shape a Parley
// fingerprint has.
bool is_fingerprint(std::string_view text);

// $XDG_CONFIG_HOME/parley, else $HOME/.config/parley; empty when neither variable is set.
std::string parley_config_dir();
// known_hosts in parley_config_dir(); empty when that is.
std::string default_known_hosts_path();

// Reads the file; a missing file is an empty one. Throws std::runtime_error naming the file.
KnownHosts load_known_hosts(const std::string& path);

// Appends one line (creating the file 0600 and its directory 0700 when missing) and returns
// the line number it now has. Throws std::runtime_error naming the file.
std::size_t append_known_host(const std::string& path, std::string_view name,
                              std::string_view fingerprint);

// Removes every line for `name` (as `ssh-keygen -R` does), keeping comments and every other
// line as they were, and returns the lines removed (0: the file is left untouched). The file is
// rewritten whole and renamed into place, so a crash leaves the old or the new file, never half
// of one. Throws std::runtime_error naming the file.
std::vector<KnownHost> remove_known_host(const std::string& path, std::string_view name);

}  // namespace parley::client
