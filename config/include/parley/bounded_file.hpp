// Reads a whole file of bounded size: the config file, the authorized_keys file and a TLS
// listener's certificate and key, which an operator writes but a reload reads inside the running
// server.
#pragma once

#include <cstddef>
#include <string>
#include <variant>

namespace parley::config {

inline constexpr std::size_t kMaxFileBytes = std::size_t{1} << 20;

struct FileError {
  std::string message;  // "cannot read PATH: why"
};

std::variant<std::string, FileError> read_bounded_file(const std::string& path);

}  // namespace parley::config
