// The known-answer vectors (tests/vectors), for the unit tests and the fuzz targets alike.
// PARLEY_VECTORS_DIR names the folder.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "parley/bytes.hpp"

namespace parley::test {

// tests/vectors/<name>, parsed once per process.
const nlohmann::json& vectors(const std::string& name);
// A vector's hex string as bytes.
Bytes hex(const nlohmann::json& value);

}  // namespace parley::test
