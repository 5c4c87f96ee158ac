// Operator bans (parleyctl ban/unban): source addresses, refused at accept before any
// cryptography, and client identity fingerprints, refused as soon as the ClientFinished names
// the key, before its signature is checked. Pure code: the clock comes in as a parameter, and the
// file form is text in, text out; BanFile (below) writes it beside the identity key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace parley::server {

// Seconds since the Unix epoch: bans outlive restarts, so their expiry is wall-clock time.
using UnixSeconds = std::int64_t;

struct Ban {
  enum class Kind { address, fingerprint };
  Kind kind = Kind::address;
  std::string target;                  // canonical: the address as Asio prints it, or SHA256:...
  std::optional<UnixSeconds> expires;  // absent: until unbanned
  bool operator==(const Ban&) const = default;
};

std::string_view name_of(Ban::Kind kind);  // "address", "fingerprint"

// An IPv4 or IPv6 literal (canonicalised: "::ffff:1.2.3.4" stays as written by Asio, "0:0::1"
// becomes "::1") or a SHA256: fingerprint; otherwise why not.
std::variant<Ban, std::string> parse_ban_target(std::string_view text);

// "90", "90s", "15m", "12h", "7d", "2w": a positive duration in seconds, at most ten years;
// otherwise nullopt.
std::optional<std::uint64_t> parse_duration(std::string_view text);

class BanList {
 public:
  // Adds or replaces the ban of `ban.target`.
  void add(Ban ban);
  // True when there was a ban of this target (in canonical form) to lift.
  bool remove(std::string_view target);
  // Expired bans count as absent.
  bool address_banned(std::string_view canonical_address, UnixSeconds now) const;
  bool fingerprint_banned(std::string_view fingerprint, UnixSeconds now) const;
  // Forgets expired bans; true when there were any.
  bool drop_expired(UnixSeconds now);
  // Sorted by target.
  std::vector<Ban> all() const;
  bool empty() const { return bans_.empty(); }

  // The file form: {"bans":[{"kind":"address","target":"...","expires":N|null},...]}.
  std::string to_json() const;
  // Parses the file form, dropping bans expired by `now`; a malformed file is an error (the
  // operator's bans must not silently vanish).
  static std::variant<BanList, std::string> from_json(std::string_view text, UnixSeconds now);

 private:
  bool banned(std::string_view target, Ban::Kind kind, UnixSeconds now) const;

  std::map<std::string, Ban, std::less<>> bans_;  // by target
};

// The ban list's file in the state directory (beside the identity key), written whole to a
// temporary file, synced and renamed over the old one, like the room seq lease.
class BanFile {
 public:
  explicit BanFile(std::string path) : path_(std::move(path)) {}
  // Absent file: an empty list. Throws std::runtime_error naming the file.
  BanList load(UnixSeconds now) const;
  // Written by the server off the loop (replace_file_off_loop), through path().
  const std::string& path() const { return path_; }

  // "bans.json" in the identity key's directory.
  static std::string path_beside(const std::string& identity_key);

 private:
  std::string path_;
};

}  // namespace parley::server
