// The client's known_hosts parser (client/known_hosts.hpp) on any file text. Every entry it
// keeps is a well-formed fingerprint on a counted line, looking it up finds it, and writing
// the entries out as the client appends them and parsing that gives the same entries back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "known_hosts.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using parley::client::HostKeyStatus;
  using parley::client::KnownHosts;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const KnownHosts hosts = KnownHosts::parse(text);
  FUZZ_CHECK(hosts.entries().size() + hosts.malformed_lines() <= hosts.line_count());

  std::string written;
  std::size_t previous_line = 0;
  for (const auto& entry : hosts.entries()) {
    FUZZ_CHECK(!entry.name.empty() && parley::client::is_fingerprint(entry.fingerprint));
    FUZZ_CHECK(entry.line > previous_line && entry.line <= hosts.line_count());
    previous_line = entry.line;
    FUZZ_CHECK(hosts.lookup(entry.name, entry.fingerprint).status == HostKeyStatus::matches);
    written += entry.name + " " + entry.fingerprint + "\n";
  }

  const KnownHosts again = KnownHosts::parse(written);
  FUZZ_CHECK(again.malformed_lines() == 0);
  FUZZ_CHECK(again.entries().size() == hosts.entries().size());
  for (std::size_t i = 0; i < again.entries().size(); ++i) {
    FUZZ_CHECK(again.entries()[i].name == hosts.entries()[i].name);
    FUZZ_CHECK(again.entries()[i].fingerprint == hosts.entries()[i].fingerprint);
    FUZZ_CHECK(again.entries()[i].line == i + 1);
  }
  return 0;
}
