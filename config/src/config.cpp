#include "parley/config.hpp"

#include "parley/bounded_file.hpp"
#include "parley/frame.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <system_error>
#include <utility>

namespace parley::config {
namespace {

using nlohmann::json;

// Values and key names echoed in messages are capped: enough to spot a typo, never a whole
// pasted document.
constexpr std::size_t kMaxShown = 64;
constexpr std::size_t kMaxParseMessage = 256;
constexpr std::size_t kMaxListen = 16;
constexpr std::size_t kMaxSuites = 3;
// A config file is a few kilobytes; the cap keeps a mistaken path like /dev/zero from hanging.

constexpr double kRateMin = 0.1;
constexpr double kRateMax = 100000;
constexpr std::string_view kRateRange = "[0.1, 100000]";

struct LimitField {
  std::string_view name;
  std::uint64_t Limits::*integer;  // nullptr for rate, the one field that is not an integer
  std::uint64_t min;
  std::uint64_t max;
};

// One table drives parsing, to_json and diff, so the three cannot disagree on a field.
constexpr std::array<LimitField, 22> kLimitFields = {{
    {"max_clients", &Limits::max_clients, 1, 1000000},
    {"max_frame", &Limits::max_frame, kHandshakeMaxFrame, kMaxConfigurableFrame},
    {"max_message_bytes", &Limits::max_message_bytes, 1, 1048576},
    {"handshake_timeout_ms", &Limits::handshake_timeout_ms, 100, 300000},
    {"hello_timeout_ms", &Limits::hello_timeout_ms, 100, 300000},
    {"idle_interval_s", &Limits::idle_interval_s, 1, 86400},
    {"idle_timeout_s", &Limits::idle_timeout_s, 1, 3600},
    {"rate", nullptr, 0, 0},
    {"burst", &Limits::burst, 1, 100000},
    {"flood_strikes", &Limits::flood_strikes, 1, 100000},
    {"outbox_bytes", &Limits::outbox_bytes, 65536, 1073741824},
    {"send_buffer_bytes", &Limits::send_buffer_bytes, 4096, 16777216},
    {"write_deadline_ms", &Limits::write_deadline_ms, 100, 300000},
    {"handshakes_per_source_per_s", &Limits::handshakes_per_source_per_s, 1, 100000},
    {"handshake_burst_per_source", &Limits::handshake_burst_per_source, 1, 100000},
    {"max_pending_handshakes", &Limits::max_pending_handshakes, 1, 100000},
    {"max_pending_per_source", &Limits::max_pending_per_source, 1, 100000},
    {"max_sessions_per_source", &Limits::max_sessions_per_source, 1, 1000000},
    {"max_rooms", &Limits::max_rooms, 1, 1000000},
    {"max_rooms_per_session", &Limits::max_rooms_per_session, 1, 100000},
    {"signatures_per_turn", &Limits::signatures_per_turn, 1, 64},
    {"min_client_rsa_bits", &Limits::min_client_rsa_bits, 2048, 8192},
}};

// Like kLimitFields, for the history section.
struct HistoryField {
  std::string_view name;
  std::uint64_t History::*value;
  std::uint64_t min;
  std::uint64_t max;
};
constexpr std::array<HistoryField, 3> kHistoryFields = {{
    {"messages", &History::messages, 0, 100000},
    {"max_age_s", &History::max_age_s, 1, 31536000},
    {"max_bytes", &History::max_bytes, 65536, 68719476736},
}};

constexpr std::array<std::string_view, 10> kTopKeys = {
    "listen", "identity_key", "suites",  "limits",  "history",
    "auth",   "log",          "metrics", "control", "cluster"};
constexpr std::array<std::string_view, 4> kListenKeys = {"address", "port", "tls", "reuse_port"};
constexpr std::array<std::string_view, 3> kTlsKeys = {"cert", "key", "min_version"};
constexpr std::array<std::string_view, 2> kTlsVersions = {"1.2", "1.3"};
constexpr std::array<std::string_view, 2> kAuthKeys = {"mode", "authorized_keys"};
constexpr std::array<std::string_view, 4> kLogKeys = {"format", "level", "file",
                                                      "stats_interval_s"};
constexpr std::array<std::string_view, 1> kMetricsKeys = {"listen"};
constexpr std::array<std::string_view, 1> kControlKeys = {"socket"};
constexpr std::array<std::string_view, 2> kAuthModes = {"open", "keys"};
constexpr std::array<std::string_view, 2> kLogFormats = {"json", "text"};
constexpr std::array<std::string_view, 8> kClusterKeys = {
    "servers", "name", "node", "token", "user", "password", "credentials", "when_unreachable"};
constexpr std::array<std::string_view, 2> kWhenUnreachable = {"fail", "single"};
constexpr std::array<std::string_view, 2> kServerSchemes = {"nats://", "tls://"};
// A server URL is a host, a port and perhaps user:password@: a few dozen bytes.
constexpr std::size_t kMaxServerUrl = 256;
// A token or password is a secret typed or generated once; the cap only keeps out pasted files.
constexpr std::size_t kMaxSecret = 1024;

std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string: {
      std::string quoted = v.dump(-1, ' ', true, json::error_handler_t::replace);
      if (quoted.size() <= kMaxShown) return quoted;
      return "a string of " + std::to_string(v.get_ref<const std::string&>().size()) + " bytes";
    }
    case json::value_t::boolean:
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return v.dump();
    default:
      return "an unsupported value";
  }
}

// An unknown key becomes part of an error path, so it gets the same cap as a shown value and
// loses anything that could mess up a terminal.
std::string printable_key(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, kMaxShown))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (key.size() > kMaxShown) out += "...";
  return out;
}

std::string join(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string indexed(std::string_view parent, std::size_t i) {
  return std::string(parent) + "[" + std::to_string(i) + "]";
}

std::string one_of(std::span<const std::string_view> options) {
  std::string out = "one of ";
  for (std::size_t i = 0; i < options.size(); ++i) {
    if (i != 0) out += ", ";
    out += '"';
    out += options[i];
    out += '"';
  }
  return out;
}

std::string suite_names_list() {
  std::vector<std::string_view> names;
  for (const auto& s : all_suites())
    names.push_back(s.name);
  return one_of(names);
}

// nlohmann's message carries the position, which is what a person needs; its "[json.exception
// ...]" prefix is noise and its "last read" token can be an entire unterminated string.
std::string parse_error_message(const json::exception& e) {
  std::string msg = e.what();
  if (auto end = msg.find("] "); msg.starts_with("[json.exception.") && end != std::string::npos)
    msg.erase(0, end + 2);
  constexpr std::string_view kLastRead = "last read: '";
  if (auto at = msg.find(kLastRead); at != std::string::npos) {
    const std::size_t token = at + kLastRead.size();
    if (msg.size() - token > kMaxShown + 1) msg = msg.substr(0, token + kMaxShown) + "...'";
  }
  // Other messages ("number overflow parsing '1e400'") quote a token too, without a marker.
  if (msg.size() > kMaxParseMessage) msg = msg.substr(0, kMaxParseMessage) + "...";
  return msg;
}

// An address literal as the socket sees it: compared as bytes, so "::1" and "0::1" are the same.
struct Bound {
  int family;
  std::array<unsigned char, sizeof(in6_addr)> addr;
  std::uint16_t port;
};

std::optional<Bound> parse_ip(const std::string& text, int family) {
  Bound b{};
  // inet_pton stops at a NUL, so "127.0.0.1\u0000junk" must be refused first.
  if (text.find('\0') != std::string::npos) return std::nullopt;
  if (inet_pton(family, text.c_str(), b.addr.data()) != 1) return std::nullopt;
  b.family = family;
  return b;
}

std::optional<Bound> parse_ip(const std::string& text) {
  if (auto v4 = parse_ip(text, AF_INET)) return v4;
  return parse_ip(text, AF_INET6);
}

bool same_socket(const Bound& a, const Bound& b) {
  return a.family == b.family && a.addr == b.addr && a.port == b.port && a.port != 0;
}

// "65535": decimal digits only (no sign, no spaces, no hex, no leading zero, as in a JSON
// integer), at most 5 of them.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  unsigned n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(n);
}

// "127.0.0.1:9477" or "[::1]:9477". An IPv6 address must be in brackets: "::1:9477" would be
// ambiguous.
std::optional<Metrics> parse_host_port(const std::string& text) {
  std::string address;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string::npos) return std::nullopt;
    address = text.substr(1, close - 1);
    port = std::string_view(text).substr(close + 2);
    if (!parse_ip(address, AF_INET6)) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    address = text.substr(0, colon);
    port = std::string_view(text).substr(colon + 1);
    if (!parse_ip(address, AF_INET)) return std::nullopt;
  }
  const auto p = parse_port(port);
  if (!p) return std::nullopt;
  return Metrics{std::move(address), *p};
}

class Parser {
 public:
  std::vector<ConfigError> errors;

  void error(std::string path, std::string message) {
    errors.push_back(ConfigError{std::move(path), std::move(message)});
  }

  // Reports every member not in `known`; false if `v` is not an object at all.
  bool object(const json& v, const std::string& path, std::span<const std::string_view> known) {
    if (!v.is_object()) {
      error(path, "expected an object, got " + describe(v));
      return false;
    }
    for (const auto& [key, value] : v.items()) {
      bool found = false;
      for (auto k : known)
        found = found || k == key;
      if (!found) error(join(path, printable_key(key)), "unknown key, expected " + one_of(known));
    }
    return true;
  }

  std::optional<std::uint64_t> integer(const json& v, const std::string& path, std::uint64_t min,
                                       std::uint64_t max) {
    std::optional<std::uint64_t> n;
    if (v.is_number_unsigned()) {
      n = v.get<std::uint64_t>();
    } else if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
      n = static_cast<std::uint64_t>(v.get<std::int64_t>());
    }
    if (n && *n >= min && *n <= max) return n;
    error(path, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                    "], got " + describe(v));
    return std::nullopt;
  }

  std::optional<bool> boolean(const json& v, const std::string& path) {
    if (v.is_boolean()) return v.get<bool>();
    error(path, "expected true or false, got " + describe(v));
    return std::nullopt;
  }

  std::optional<double> rate(const json& v, const std::string& path) {
    if (v.is_number()) {
      const double d = v.get<double>();
      if (d >= kRateMin && d <= kRateMax) return d;
    }
    error(path, "expected a number in " + std::string(kRateRange) + ", got " + describe(v));
    return std::nullopt;
  }

  std::optional<std::string_view> choice(const json& v, const std::string& path,
                                         std::span<const std::string_view> options) {
    if (!v.is_string()) {
      error(path, "expected a string, " + one_of(options) + ", got " + describe(v));
      return std::nullopt;
    }
    for (auto option : options)
      if (v.get_ref<const std::string&>() == option) return option;
    error(path, "expected " + one_of(options) + ", got " + describe(v));
    return std::nullopt;
  }

  std::optional<std::string> file_path(const json& v, const std::string& path) {
    if (!v.is_string()) {
      error(path, "expected a string, got " + describe(v));
      return std::nullopt;
    }
    const auto& s = v.get_ref<const std::string&>();
    // A NUL would silently cut the path short when it reaches open().
    if (s.empty() || s.find('\0') != std::string::npos) {
      error(path, "expected a non-empty path without NUL bytes, got " + describe(v));
      return std::nullopt;
    }
    return s;
  }

  // The outer optional is "valid"; the inner one is the value, null meaning absent.
  std::optional<std::optional<std::string>> optional_path(const json& v, const std::string& path) {
    if (v.is_null()) return std::optional<std::string>{};
    if (!v.is_string()) {
      error(path, "expected a string or null, got " + describe(v));
      return std::nullopt;
    }
    auto p = file_path(v, path);
    if (!p) return std::nullopt;
    return std::optional<std::string>{std::move(*p)};
  }

  void listen(const json& v, std::vector<ListenAddress>& out) {
    const std::string path = "listen";
    if (!v.is_array()) {
      error(path, "expected an array, got " + describe(v));
      return;
    }
    if (v.empty() || v.size() > kMaxListen)
      error(path, "expected 1 to " + std::to_string(kMaxListen) + " entries, got " +
                      std::to_string(v.size()));
    std::vector<Bound> seen;
    std::vector<ListenAddress> result;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string entry_path = indexed(path, i);
      const json& entry = v[i];
      if (!object(entry, entry_path, kListenKeys)) continue;

      std::optional<Bound> bound;
      const std::string address_path = entry_path + ".address";
      if (auto it = entry.find("address"); it == entry.end()) {
        error(address_path, "missing, expected an IPv4 or IPv6 address");
      } else if (!it->is_string()) {
        error(address_path, "expected a string, got " + describe(*it));
      } else {
        bound = parse_ip(it->get_ref<const std::string&>());
        if (!bound) error(address_path, "expected an IPv4 or IPv6 address, got " + describe(*it));
      }

      std::optional<std::uint64_t> port;
      const std::string port_path = entry_path + ".port";
      if (auto it = entry.find("port"); it == entry.end()) {
        error(port_path, "missing, expected an integer in [0, 65535]");
      } else {
        // 0 asks the kernel for a free port (tests); the `listening` log line says which.
        port = integer(*it, port_path, 0, 65535);
      }

      std::optional<Tls> tls;
      bool tls_ok = true;
      if (auto it = entry.find("tls"); it != entry.end() && !it->is_null()) {
        tls = this->tls(*it, entry_path + ".tls");
        tls_ok = tls.has_value();
      }

      bool reuse_port = false;
      bool reuse_ok = true;
      if (auto it = entry.find("reuse_port"); it != entry.end()) {
        auto b = boolean(*it, entry_path + ".reuse_port");
        reuse_ok = b.has_value();
        reuse_port = b.value_or(false);
      }

      if (!bound || !port || !tls_ok || !reuse_ok) continue;
      bound->port = static_cast<std::uint16_t>(*port);
      // Compared as bytes so "::1" and "0::1" count as the same socket.
      for (std::size_t j = 0; j < seen.size(); ++j) {
        if (same_socket(seen[j], *bound)) {
          error(entry_path, "same address and port as " + indexed(path, j));
          break;
        }
      }
      seen.push_back(*bound);
      ListenAddress parsed;
      parsed.address = entry.at("address").get<std::string>();
      parsed.port = bound->port;
      parsed.tls = std::move(tls);
      parsed.reuse_port = reuse_port;
      result.push_back(std::move(parsed));
    }
    out = std::move(result);
  }

  std::optional<Tls> tls(const json& v, const std::string& path) {
    if (!object(v, path, kTlsKeys)) return std::nullopt;
    Tls out;
    bool ok = true;
    for (auto [name, field] : {std::pair{"cert", &Tls::cert}, std::pair{"key", &Tls::key}}) {
      const std::string field_path = join(path, name);
      auto it = v.find(name);
      std::optional<std::string> file;
      if (it == v.end()) {
        error(field_path, "missing, expected the path of a PEM file");
      } else {
        file = file_path(*it, field_path);
      }
      if (file) {
        out.*field = std::move(*file);
      } else {
        ok = false;
      }
    }
    if (auto it = v.find("min_version"); it != v.end()) {
      auto version = choice(*it, join(path, "min_version"), kTlsVersions);
      if (version) {
        out.min_version = *version == "1.3" ? TlsVersion::v1_3 : TlsVersion::v1_2;
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void suites(const json& v, std::vector<SuiteId>& out) {
    const std::string path = "suites";
    if (!v.is_array()) {
      error(path, "expected an array, got " + describe(v));
      return;
    }
    if (v.empty() || v.size() > kMaxSuites)
      error(path, "expected 1 to " + std::to_string(kMaxSuites) + " suite names, got " +
                      std::to_string(v.size()));
    std::vector<SuiteId> result;
    std::vector<std::size_t> index_of;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string item_path = indexed(path, i);
      if (!v[i].is_string()) {
        error(item_path, "expected a string, got " + describe(v[i]));
        continue;
      }
      const SuiteInfo* suite = find_suite(std::string_view(v[i].get_ref<const std::string&>()));
      if (suite == nullptr) {
        error(item_path, "expected " + suite_names_list() + ", got " + describe(v[i]));
        continue;
      }
      bool duplicate = false;
      for (std::size_t j = 0; j < result.size() && !duplicate; ++j) {
        if (result[j] == suite->id) {
          error(item_path, "duplicate of " + indexed(path, index_of[j]));
          duplicate = true;
        }
      }
      if (duplicate) continue;
      result.push_back(suite->id);
      index_of.push_back(i);
    }
    out = std::move(result);
  }

  void limits(const json& v, Limits& out) {
    const std::string path = "limits";
    std::vector<std::string_view> known;
    for (const auto& f : kLimitFields)
      known.push_back(f.name);
    if (!object(v, path, known)) return;
    bool frame_ok = true;
    bool message_ok = true;
    bool outbox_ok = true;
    for (const auto& f : kLimitFields) {
      auto it = v.find(std::string(f.name));
      if (it == v.end()) continue;
      const std::string field_path = join(path, f.name);
      bool ok = false;
      if (f.integer == nullptr) {
        if (auto d = rate(*it, field_path)) {
          out.rate = *d;
          ok = true;
        }
      } else if (auto n = integer(*it, field_path, f.min, f.max)) {
        out.*f.integer = *n;
        ok = true;
      }
      if (f.name == "max_frame") frame_ok = ok;
      if (f.name == "max_message_bytes") message_ok = ok;
      if (f.name == "outbox_bytes") outbox_ok = ok;
    }
    // A whole record must fit the outbox behind another one still being written; otherwise a
    // message or a listing page within max_frame would close its reader as a slow consumer.
    if (frame_ok && outbox_ok && out.outbox_bytes < 2 * out.max_frame) {
      error(join(path, "outbox_bytes"),
            "expected at least 2 * limits.max_frame = " + std::to_string(2 * out.max_frame) +
                ", got " + std::to_string(out.outbox_bytes));
    }
    // Only when both parsed: otherwise the message would blame a value that was never read.
    if (frame_ok && message_ok && out.max_message_bytes > out.max_frame - kFrameOverheadReserve) {
      error(join(path, "max_message_bytes"),
            "expected at most limits.max_frame - " + std::to_string(kFrameOverheadReserve) + " = " +
                std::to_string(out.max_frame - kFrameOverheadReserve) + ", got " +
                std::to_string(out.max_message_bytes));
    }
  }

  void history(const json& v, History& out) {
    const std::string path = "history";
    std::vector<std::string_view> known;
    for (const auto& f : kHistoryFields)
      known.push_back(f.name);
    if (!object(v, path, known)) return;
    for (const auto& f : kHistoryFields) {
      if (auto it = v.find(std::string(f.name)); it != v.end()) {
        if (auto n = integer(*it, join(path, f.name), f.min, f.max)) out.*f.value = *n;
      }
    }
  }

  void auth(const json& v, Auth& out) {
    const std::string path = "auth";
    if (!object(v, path, kAuthKeys)) return;
    bool mode_ok = true;
    if (auto it = v.find("mode"); it != v.end()) {
      auto mode = choice(*it, join(path, "mode"), kAuthModes);
      mode_ok = mode.has_value();
      if (mode) out.mode = *mode == "keys" ? AuthMode::keys : AuthMode::open;
    }
    bool keys_ok = true;
    if (auto it = v.find("authorized_keys"); it != v.end()) {
      auto p = optional_path(*it, join(path, "authorized_keys"));
      keys_ok = p.has_value();
      if (p) out.authorized_keys = std::move(*p);
    }
    if (mode_ok && keys_ok && out.mode == AuthMode::keys && !out.authorized_keys)
      error(join(path, "authorized_keys"), "required when auth.mode is \"keys\"");
  }

  void log(const json& v, Log& out) {
    const std::string path = "log";
    if (!object(v, path, kLogKeys)) return;
    if (auto it = v.find("format"); it != v.end()) {
      if (auto f = choice(*it, join(path, "format"), kLogFormats))
        out.format = *f == "text" ? LogFormat::text : LogFormat::json;
    }
    if (auto it = v.find("level"); it != v.end()) {
      if (auto level = choice(*it, join(path, "level"), kLogLevels)) out.level = *level;
    }
    if (auto it = v.find("file"); it != v.end()) {
      if (auto p = optional_path(*it, join(path, "file"))) out.file = std::move(*p);
    }
    if (auto it = v.find("stats_interval_s"); it != v.end()) {
      if (auto n = integer(*it, join(path, "stats_interval_s"), 1, 86400))
        out.stats_interval_s = static_cast<std::uint32_t>(*n);
    }
  }

  // A section that is null (off: `out` is reset) or an object with only `keys`. True when there
  // is an object to read.
  template <class Section>
  bool optional_section(const json& v, const std::string& path,
                        std::span<const std::string_view> keys, std::optional<Section>& out) {
    if (v.is_null()) {
      out.reset();
      return false;
    }
    if (!v.is_object()) {
      error(path, "expected an object or null, got " + describe(v));
      return false;
    }
    return object(v, path, keys);
  }

  // null (off) or {"listen": "ADDRESS:PORT"}; `listen` is what the server's listeners became,
  // so the endpoint cannot take one of their sockets.
  void metrics(const json& v, const std::vector<ListenAddress>& listen,
               std::optional<Metrics>& out) {
    const std::string path = "metrics";
    if (!optional_section(v, path, kMetricsKeys, out)) return;
    const std::string listen_path = join(path, "listen");
    constexpr std::string_view kExpected =
        "\"ADDRESS:PORT\" (an IPv4 address, or an IPv6 address in brackets as in "
        "\"[::1]:9477\"; port 0..65535)";
    auto it = v.find("listen");
    if (it == v.end()) {
      error(listen_path, "missing, expected " + std::string(kExpected));
      return;
    }
    std::optional<Metrics> parsed;
    if (it->is_string()) parsed = parse_host_port(it->get_ref<const std::string&>());
    if (!parsed) {
      error(listen_path, "expected " + std::string(kExpected) + ", got " + describe(*it));
      return;
    }
    auto bound = parse_ip(parsed->address);
    bound->port = parsed->port;
    for (std::size_t i = 0; i < listen.size(); ++i) {
      auto other = parse_ip(listen[i].address);
      if (!other) continue;
      other->port = listen[i].port;
      if (same_socket(*other, *bound)) {
        error(listen_path, "same address and port as " + indexed("listen", i));
        return;
      }
    }
    out = std::move(parsed);
  }

  // null (off) or {"socket": PATH}.
  void control(const json& v, std::optional<Control>& out) {
    const std::string path = "control";
    if (!optional_section(v, path, kControlKeys, out)) return;
    const std::string socket_path = join(path, "socket");
    auto it = v.find("socket");
    if (it == v.end()) {
      error(socket_path, "missing, expected a path");
      return;
    }
    auto p = file_path(*it, socket_path);
    if (!p) return;
    if (p->size() > kMaxControlSocketPath) {
      error(socket_path, "longer than " + std::to_string(kMaxControlSocketPath) +
                             " bytes, which a Unix socket address cannot hold");
      return;
    }
    out = Control{std::move(*p)};
  }

  // A string of 1..max bytes, printable ASCII without spaces (secrets and names travel in NATS's
  // text protocol and its URLs); the value itself is never echoed when `secret`.
  std::optional<std::string> token_text(const json& v, const std::string& path, std::size_t max,
                                        bool secret) {
    if (!v.is_string()) {
      error(path, "expected a string or null, got " + describe(v));
      return std::nullopt;
    }
    const auto& s = v.get_ref<const std::string&>();
    const bool printable =
        std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (s.empty() || s.size() > max || !printable) {
      error(path,
            "expected 1 to " + std::to_string(max) +
                " printable ASCII characters without spaces, got " +
                (secret ? "a string of " + std::to_string(s.size()) + " bytes" : describe(v)));
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> cluster_name(const json& v, const std::string& path) {
    if (v.is_string() && is_cluster_name(v.get_ref<const std::string&>()))
      return v.get<std::string>();
    error(path, "expected 1 to " + std::to_string(kMaxClusterName) +
                    " characters of A-Z a-z 0-9 _ -, got " + describe(v));
    return std::nullopt;
  }

  void cluster_servers(const json& v, const std::string& path, std::vector<std::string>& out) {
    if (!v.is_array() || v.empty() || v.size() > kMaxClusterServers) {
      error(path, "expected an array of 1 to " + std::to_string(kMaxClusterServers) +
                      " nats:// or tls:// URLs, got " +
                      (v.is_array() ? std::to_string(v.size()) + " entries" : describe(v)));
      return;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string item_path = indexed(path, i);
      bool ok = false;
      if (v[i].is_string()) {
        const auto& url = v[i].get_ref<const std::string&>();
        for (auto scheme : kServerSchemes)
          ok = ok || (url.starts_with(scheme) && url.size() > scheme.size());
        // libnats splits a URL list at commas; spaces and controls are never part of a URL.
        ok = ok && url.size() <= kMaxServerUrl && std::all_of(url.begin(), url.end(), [](char c) {
               return c > 0x20 && c < 0x7f && c != ',';
             });
      }
      if (!ok) {
        error(item_path,
              "expected a nats:// or tls:// URL such as \"nats://127.0.0.1:4222\", got " +
                  describe(v[i]));
        continue;
      }
      out.push_back(v[i].get<std::string>());
    }
  }

  // null (off) or {"servers": [...], ...}: docs/config.md `cluster`.
  void cluster(const json& v, const Environment& env, std::optional<Cluster>& out) {
    const std::string path = "cluster";
    if (!optional_section(v, path, kClusterKeys, out)) return;
    Cluster c;
    const std::size_t errors_before = errors.size();
    if (auto it = v.find("servers"); it == v.end()) {
      error(join(path, "servers"), "missing, expected an array of 1 to " +
                                       std::to_string(kMaxClusterServers) +
                                       " nats:// or tls:// URLs");
    } else {
      cluster_servers(*it, join(path, "servers"), c.servers);
    }
    if (auto it = v.find("name"); it != v.end()) {
      if (auto n = cluster_name(*it, join(path, "name"))) c.name = std::move(*n);
    }
    if (auto it = v.find("node"); it != v.end()) {
      if (auto n = cluster_name(*it, join(path, "node"))) c.node = std::move(*n);
    } else if (auto n = default_node_name(env)) {
      c.node = std::move(*n);
    } else {
      error(join(path, "node"), "missing, and there is no host name to derive it from");
    }
    // null is the same as absent (to_json writes every key).
    auto present = [&v](const char* key) {
      auto it = v.find(key);
      return it != v.end() && !it->is_null() ? &*it : nullptr;
    };
    if (auto* t = present("token")) c.token = token_text(*t, join(path, "token"), kMaxSecret, true);
    if (auto* u = present("user")) c.user = token_text(*u, join(path, "user"), kMaxSecret, false);
    if (auto* p = present("password"))
      c.password = token_text(*p, join(path, "password"), kMaxSecret, true);
    if (auto* f = present("credentials")) c.credentials = file_path(*f, join(path, "credentials"));
    if (auto it = v.find("when_unreachable"); it != v.end()) {
      if (auto w = choice(*it, join(path, "when_unreachable"), kWhenUnreachable))
        c.when_unreachable = *w == "single" ? WhenUnreachable::single : WhenUnreachable::fail;
    }
    if (errors.size() != errors_before) return;
    // Each half of a user and password is useless alone, and two ways to authenticate leave
    // the reader guessing which one NATS sees.
    if (c.user && !c.password) error(join(path, "password"), "required with cluster.user");
    if (c.password && !c.user) error(join(path, "user"), "required with cluster.password");
    const int ways = (c.token ? 1 : 0) + (c.user ? 1 : 0) + (c.credentials ? 1 : 0);
    if (ways > 1)
      error(path, "token, user and password, and credentials exclude each other: give one");
    if (errors.size() != errors_before) return;
    out = std::move(c);
  }
};

std::string join_dir(std::string_view dir, std::string_view tail) {
  std::string out(dir);
  if (!out.ends_with('/')) out += '/';
  out += tail;
  return out;
}

bool is_set(const std::optional<std::string>& v) {
  return v.has_value() && !v->empty();
}

std::string_view name_of(LogFormat f) {
  return f == LogFormat::text ? "text" : "json";
}

std::string_view name_of(AuthMode m) {
  return m == AuthMode::keys ? "keys" : "open";
}

}  // namespace

std::string_view name_of(TlsVersion version) {
  return version == TlsVersion::v1_3 ? "1.3" : "1.2";
}

std::string_view name_of(WhenUnreachable when) {
  return when == WhenUnreachable::single ? "single" : "fail";
}

bool is_cluster_name(std::string_view text) {
  if (text.empty() || text.size() > kMaxClusterName) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::optional<std::string> default_node_name(const Environment& env) {
  auto sanitized = [](std::string_view text) {
    std::string out(text);
    for (char& c : out)
      if (!is_cluster_name(std::string_view(&c, 1))) c = '-';
    return out;
  };
  if (!is_set(env.host_name)) return std::nullopt;
  std::string host = sanitized(*env.host_name);
  // The instance names the node on its host, so it is kept whole and the host name shortened;
  // an instance too long for that is cut too (two such nodes clash and the second is refused).
  std::string instance = is_set(env.instance) ? "-" + sanitized(*env.instance) : "";
  instance.resize(std::min(instance.size(), kMaxClusterName / 2));
  host.resize(std::min(host.size(), kMaxClusterName - instance.size()));
  return host + instance;
}

std::string default_identity_key_path(const Environment& env) {
  if (is_set(env.state_directory)) {
    // systemd joins several StateDirectory= entries with ':'; the first is the service's own.
    const std::string_view first =
        std::string_view(*env.state_directory).substr(0, env.state_directory->find(':'));
    if (!first.empty()) return join_dir(first, "identity.pem");
  }
  // The XDG Base Directory spec says relative values are invalid and must be ignored.
  if (is_set(env.xdg_state_home) && env.xdg_state_home->front() == '/')
    return join_dir(*env.xdg_state_home, "parleyd/identity.pem");
  if (is_set(env.home)) return join_dir(*env.home, ".local/state/parleyd/identity.pem");
  return "./parleyd-identity.pem";
}

std::optional<Control> default_control(const Environment& env) {
  if (!is_set(env.runtime_directory)) return std::nullopt;
  const std::string_view first =
      std::string_view(*env.runtime_directory).substr(0, env.runtime_directory->find(':'));
  if (first.empty()) return std::nullopt;
  std::string path = join_dir(first, "control.sock");
  if (path.size() > kMaxControlSocketPath) return std::nullopt;
  return Control{std::move(path)};
}

Config default_config(const Environment& env) {
  Config c;
  c.control = default_control(env);
  c.listen = {ListenAddress{"127.0.0.1", 7777}};
  c.identity_key = default_identity_key_path(env);
  for (const auto& s : all_suites())
    c.suites.push_back(s.id);
  return c;
}

std::string listen_text(const Metrics& metrics) {
  const bool v6 = metrics.address.find(':') != std::string::npos;
  return (v6 ? "[" + metrics.address + "]" : metrics.address) + ":" + std::to_string(metrics.port);
}

std::string ConfigError::to_string() const {
  return path.empty() ? message : path + ": " + message;
}

ParseResult parse_config(std::string_view json_text, const Environment& env) {
  json doc;
  try {
    doc = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return std::vector<ConfigError>{ConfigError{"", parse_error_message(e)}};
  }

  Parser p;
  Config c = default_config(env);
  if (p.object(doc, "", kTopKeys)) {
    if (auto it = doc.find("listen"); it != doc.end()) p.listen(*it, c.listen);
    if (auto it = doc.find("identity_key"); it != doc.end()) {
      if (auto path = p.file_path(*it, "identity_key")) c.identity_key = std::move(*path);
    }
    if (auto it = doc.find("suites"); it != doc.end()) p.suites(*it, c.suites);
    if (auto it = doc.find("limits"); it != doc.end()) p.limits(*it, c.limits);
    if (auto it = doc.find("history"); it != doc.end()) p.history(*it, c.history);
    if (auto it = doc.find("auth"); it != doc.end()) p.auth(*it, c.auth);
    if (auto it = doc.find("log"); it != doc.end()) p.log(*it, c.log);
    if (auto it = doc.find("metrics"); it != doc.end()) p.metrics(*it, c.listen, c.metrics);
    if (auto it = doc.find("control"); it != doc.end()) p.control(*it, c.control);
    if (auto it = doc.find("cluster"); it != doc.end()) p.cluster(*it, env, c.cluster);
  }
  if (!p.errors.empty()) return std::move(p.errors);
  return c;
}

ParseResult load_config_file(const std::string& path, const Environment& env) {
  auto text = read_bounded_file(path);
  if (auto* error = std::get_if<FileError>(&text))
    return ParseResult{std::vector<ConfigError>{ConfigError{"", error->message}}};
  return parse_config(std::get<std::string>(text), env);
}

std::string to_json(const Config& config) {
  nlohmann::ordered_json j;
  j["listen"] = nlohmann::ordered_json::array();
  for (const auto& l : config.listen) {
    nlohmann::ordered_json tls = nullptr;
    if (l.tls) {
      tls = nlohmann::ordered_json{{"cert", l.tls->cert},
                                   {"key", l.tls->key},
                                   {"min_version", std::string(name_of(l.tls->min_version))}};
    }
    j["listen"].push_back(nlohmann::ordered_json{
        {"address", l.address}, {"port", l.port}, {"tls", tls}, {"reuse_port", l.reuse_port}});
  }
  j["identity_key"] = config.identity_key;
  j["suites"] = nlohmann::ordered_json::array();
  for (SuiteId id : config.suites)
    j["suites"].push_back(std::string(suite_info(id).name));
  auto& limits = j["limits"];
  limits = nlohmann::ordered_json::object();
  for (const auto& f : kLimitFields) {
    const std::string name(f.name);
    if (f.integer == nullptr) {
      limits[name] = config.limits.rate;
    } else {
      limits[name] = config.limits.*f.integer;
    }
  }
  auto& history = j["history"];
  history = nlohmann::ordered_json::object();
  for (const auto& f : kHistoryFields)
    history[std::string(f.name)] = config.history.*f.value;
  j["auth"]["mode"] = std::string(name_of(config.auth.mode));
  j["auth"]["authorized_keys"] = config.auth.authorized_keys
                                     ? nlohmann::ordered_json(*config.auth.authorized_keys)
                                     : nlohmann::ordered_json(nullptr);
  j["log"]["format"] = std::string(name_of(config.log.format));
  j["log"]["level"] = config.log.level;
  j["log"]["file"] =
      config.log.file ? nlohmann::ordered_json(*config.log.file) : nlohmann::ordered_json(nullptr);
  j["log"]["stats_interval_s"] = config.log.stats_interval_s;
  j["metrics"] = config.metrics ? nlohmann::ordered_json{{"listen", listen_text(*config.metrics)}}
                                : nlohmann::ordered_json(nullptr);
  j["control"] = config.control ? nlohmann::ordered_json{{"socket", config.control->socket}}
                                : nlohmann::ordered_json(nullptr);
  j["cluster"] = nullptr;
  if (const auto& cl = config.cluster) {
    auto optional = [](const std::optional<std::string>& v) {
      return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
    };
    auto& out = j["cluster"];
    out["servers"] = cl->servers;
    out["name"] = cl->name;
    out["node"] = cl->node;
    // The effective configuration, secrets as given: --print-config is for the operator who
    // wrote them (a credentials file keeps them out of the config altogether).
    out["token"] = optional(cl->token);
    out["user"] = optional(cl->user);
    out["password"] = optional(cl->password);
    out["credentials"] = optional(cl->credentials);
    out["when_unreachable"] = std::string(name_of(cl->when_unreachable));
  }
  return j.dump(2) + "\n";
}

ConfigDiff diff(const Config& old_config, const Config& new_config) {
  ConfigDiff d;
  auto note = [&d](bool differs, std::string name, bool restart) {
    if (!differs) return;
    if (restart) d.need_restart.push_back(name);
    d.changed.push_back(std::move(name));
  };
  const Config& a = old_config;
  const Config& b = new_config;
  note(a.listen != b.listen, "listen", true);
  note(a.identity_key != b.identity_key, "identity_key", true);
  note(a.suites != b.suites, "suites", false);
  for (const auto& f : kLimitFields) {
    const bool differs = f.integer == nullptr ? a.limits.rate != b.limits.rate
                                              : a.limits.*f.integer != b.limits.*f.integer;
    note(differs, join("limits", f.name), false);
  }
  for (const auto& f : kHistoryFields)
    note(a.history.*f.value != b.history.*f.value, join("history", f.name), false);
  note(a.auth.mode != b.auth.mode, "auth.mode", false);
  note(a.auth.authorized_keys != b.auth.authorized_keys, "auth.authorized_keys", false);
  // The sink is built once at start; SIGHUP only reopens the same file (logrotate).
  note(a.log.format != b.log.format, "log.format", true);
  note(a.log.level != b.log.level, "log.level", false);
  note(a.log.file != b.log.file, "log.file", true);
  note(a.log.stats_interval_s != b.log.stats_interval_s, "log.stats_interval_s", false);
  // The endpoint is bound once at start, like the listeners.
  note(a.metrics != b.metrics, "metrics", true);
  note(a.control != b.control, "control", true);
  // The NATS connection and this node's place in the cluster are made once, at start.
  note(a.cluster != b.cluster, "cluster", true);
  return d;
}

}  // namespace parley::config
