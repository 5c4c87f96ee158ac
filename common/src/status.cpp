#include "parley/status.hpp"

namespace parley {

std::string_view name_of(StatusCode code) {
  switch (code) {
    case StatusCode::normal:
      return "normal";
    case StatusCode::bad_message:
      return "bad_message";
    case StatusCode::bad_version:
      return "bad_version";
    case StatusCode::key_digest_mismatch:
      return "key_digest_mismatch";
    case StatusCode::bad_key:
      return "bad_key";
    case StatusCode::no_common_suite:
      return "no_common_suite";
    case StatusCode::server_full:
      return "server_full";
    case StatusCode::timeout:
      return "timeout";
    case StatusCode::auth_failed:
      return "auth_failed";
    case StatusCode::internal:
      return "internal";
    case StatusCode::policy:
      return "policy";
    case StatusCode::replaced:
      return "replaced";
    case StatusCode::kicked:
      return "kicked";
  }
  return "unknown";
}

}  // namespace parley
