// parleyd's authorized_keys parser (config/include/parley/authorized_keys.hpp) on any file
// text. An accepted file, written out one "fingerprint [nick]" per line, parses to the same
// keys; every key and nick is found by the lookups. A refused file names a line in each error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "parley/authorized_keys.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace config = parley::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = config::parse_authorized_keys(text);
  if (auto* errors = std::get_if<std::vector<std::string>>(&parsed)) {
    FUZZ_CHECK(!errors->empty());
    for (const auto& e : *errors)
      FUZZ_CHECK(e.starts_with("line "));
    return 0;
  }
  const auto& keys = std::get<config::AuthorizedKeys>(parsed);
  std::string written;
  for (const auto& k : keys.keys) {
    FUZZ_CHECK(keys.contains(k.fingerprint));
    FUZZ_CHECK(keys.nick_of(k.fingerprint) == k.nick);
    if (k.nick) FUZZ_CHECK(keys.owner_of(*k.nick) == k.fingerprint);
    written += k.fingerprint + (k.nick ? " " + *k.nick : "") + "\n";
  }
  auto again = config::parse_authorized_keys(written);
  FUZZ_CHECK(std::holds_alternative<config::AuthorizedKeys>(again));
  FUZZ_CHECK(std::get<config::AuthorizedKeys>(again).keys == keys.keys);
  return 0;
}
