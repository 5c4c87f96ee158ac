#include "vectors.hpp"

#include <fstream>
#include <map>
#include <stdexcept>

namespace parley::test {

const nlohmann::json& vectors(const std::string& name) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/" + name);
  if (!in) throw std::runtime_error("cannot open vector file " + name);
  return cache.emplace(name, nlohmann::json::parse(in)).first->second;
}

Bytes hex(const nlohmann::json& value) {
  return from_hex(value.get<std::string>());
}

}  // namespace parley::test
