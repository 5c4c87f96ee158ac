#include "parley/suite.hpp"

#include <array>
#include <limits>
#include <stdexcept>

namespace parley {
namespace {

constexpr std::uint64_t kNoByteLimit = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

constexpr std::array<SuiteInfo, 3> kSuites = {{
    {SuiteId::aes_256_gcm, "AES-256-GCM", 32, 12, 16, true, std::uint64_t{1} << 24, kNoByteLimit,
     kU64Max},
    {SuiteId::chacha20_poly1305, "CHACHA20-POLY1305", 32, 12, 16, true, std::uint64_t{1} << 24,
     kNoByteLimit, kU64Max},
    // 64-bit block: the birthday bound makes the limits small; seq is XORed into 32 bits.
    {SuiteId::idea_ctr_hmac_sha256, "IDEA-CTR-HMAC-SHA256", 16, 4, 32, false,
     std::uint64_t{1} << 20, std::uint64_t{1} << 26, std::uint64_t{1} << 32},
}};

}  // namespace

std::span<const SuiteInfo> all_suites() {
  return kSuites;
}

const SuiteInfo* find_suite(std::uint16_t id) {
  for (const auto& s : kSuites)
    if (static_cast<std::uint16_t>(s.id) == id) return &s;
  return nullptr;
}

const SuiteInfo* find_suite(std::string_view name) {
  for (const auto& s : kSuites)
    if (s.name == name) return &s;
  return nullptr;
}

const SuiteInfo& suite_info(SuiteId id) {
  const SuiteInfo* s = find_suite(static_cast<std::uint16_t>(id));
  if (s == nullptr) throw std::invalid_argument("unknown suite id");
  return *s;
}

}  // namespace parley
