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
  bool tls = false;  // written as parleys://HOST[:PORT]
  bool operator==(const ServerAddress&) const = default;
};

// Accepts "host", "host:port", "[v6]", "[v6]:port" and a bare IPv6 address ("::1"), as
// OpenSSH's ssh does, each optionally after "parley://" or "parleys://" (TLS). The error says
// what is wrong with the text.
std::variant<ServerAddress, std::string> parse_server_address(std::string_view text);

// "host:port", or "[addr]:port" when the host contains a colon; host names in lower case, so
// one server has one entry whatever the user typed. TLS or not, the server's Parley key is the
// same: the name does not say which.
std::string known_hosts_name(const ServerAddress& address);

}  // namespace parley::client
