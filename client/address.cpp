#include "address.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "parley/concat.hpp"

namespace parley::client {
namespace {

std::variant<std::uint16_t, std::string> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value == 0 || value > 65535)
    return concat("bad port '", text, "' (expected 1..65535)");
  return static_cast<std::uint16_t>(value);
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
         c == ':' || c == '%';
}

std::variant<ServerAddress, std::string> make(std::string_view host, std::uint16_t port) {
  if (host.empty()) return std::string("empty host name");
  if (!std::all_of(host.begin(), host.end(), valid_host_char))
    return concat("bad host name '", host, "'");
  return ServerAddress{std::string(host), port};
}

std::variant<ServerAddress, std::string> parse_host_port(std::string_view text) {
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::string("missing ']' after an IPv6 address");
    const std::string_view host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (host.find(':') == std::string_view::npos)
      return concat("'", host, "' in brackets is not an IPv6 address");
    if (rest.empty()) return make(host, kDefaultPort);
    if (!rest.starts_with(':')) return std::string("expected ':PORT' after ']'");
    auto port = parse_port(rest.substr(1));
    if (auto* error = std::get_if<std::string>(&port)) return *error;
    return make(host, std::get<std::uint16_t>(port));
  }
  const auto colons = std::count(text.begin(), text.end(), ':');
  if (colons > 1) return make(text, kDefaultPort);  // a bare IPv6 address
  if (colons == 0) return make(text, kDefaultPort);
  const auto colon = text.find(':');
  auto port = parse_port(text.substr(colon + 1));
  if (auto* error = std::get_if<std::string>(&port)) return *error;
  return make(text.substr(0, colon), std::get<std::uint16_t>(port));
}

}  // namespace

std::variant<ServerAddress, std::string> parse_server_address(std::string_view text) {
  bool tls = false;
  if (text.starts_with("parleys://")) {
    tls = true;
    text.remove_prefix(std::string_view("parleys://").size());
  } else if (text.starts_with("parley://")) {
    text.remove_prefix(std::string_view("parley://").size());
  } else if (text.find("://") != std::string_view::npos) {
    return std::string("unknown scheme (expected parley:// or parleys://)");
  }
  auto parsed = parse_host_port(text);
  if (auto* address = std::get_if<ServerAddress>(&parsed)) address->tls = tls;
  return parsed;
}

std::string known_hosts_name(const ServerAddress& address) {
  std::string host = address.host;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host.find(':') != std::string::npos) host = concat("[", host, "]");
  return concat(host, ":", std::to_string(address.port));
}

}  // namespace parley::client
