// Where the client connects: HOST[:PORT] as users type it, and the name known_hosts files the
// server under. Pure code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace parley::client {

inline constexpr std::uint16_t kDefaultPort = 7777;

struct ServerAddress {
  std::string host;  // a name, an IPv4 address or an IPv6 address (without brackets)
  std::uint16_t port = kDefaultPort;
  bool operator==(const ServerAddress&) const = default;
};

// Accepts "host", "host:port", "[v6]", "[v6]:port" and a bare IPv6 address ("::1"), as
// OpenSSH's ssh does. The error says what is wrong with the text.
std::variant<ServerAddress, std::string> parse_server_address(std::string_view text);

// "host:port", or "[addr]:port" when the host contains a colon; host names in lower case, so
// one server has one entry whatever the user typed.
std::string known_hosts_name(const ServerAddress& address);

}  // namespace parley::client
