// parleyd's configuration parser (docs/config.md) on any file text. A configuration it accepts
// must round-trip through to_json() (its documented property), and differ from itself in
// nothing; a refusal lists at least one error, each with a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "parley/config.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace config = parley::config;
  // Fixed, so an input replays the same; the identity path's default depends on it.
  static const config::Environment env{"/var/lib/parleyd", std::nullopt, "/home/fuzz"};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = config::parse_config(text, env);
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&parsed)) {
    FUZZ_CHECK(!errors->empty());
    for (const auto& e : *errors)
      FUZZ_CHECK(!e.message.empty() && !e.to_string().empty());
    return 0;
  }
  const auto& cfg = std::get<config::Config>(parsed);
  const std::string json = config::to_json(cfg);
  auto again = config::parse_config(json, env);
  FUZZ_CHECK(std::holds_alternative<config::Config>(again));
  FUZZ_CHECK(std::get<config::Config>(again) == cfg);
  FUZZ_CHECK(config::to_json(std::get<config::Config>(again)) == json);
  const config::ConfigDiff same = config::diff(cfg, cfg);
  FUZZ_CHECK(same.changed.empty() && same.need_restart.empty());
  return 0;
}
