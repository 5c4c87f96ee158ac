#include "trust.hpp"

#include "text.hpp"

#include <algorithm>
#include <cctype>

namespace parley::client {

TrustAction decide_trust(const HostKeyLookup& lookup, std::string_view presented,
                         const TrustPolicy& policy) {
  if (policy.pinned) {
    if (*policy.pinned != presented) return TrustAction::refuse_not_pinned;
    switch (lookup.status) {
      case HostKeyStatus::unknown:
        return TrustAction::proceed_and_record;
      case HostKeyStatus::changed:
        return TrustAction::proceed_and_replace;
      case HostKeyStatus::matches:
        break;
    }
    return TrustAction::proceed;
  }
  switch (lookup.status) {
    case HostKeyStatus::matches:
      return TrustAction::proceed;
    case HostKeyStatus::changed:
      return TrustAction::refuse_changed;
    case HostKeyStatus::unknown:
      break;
  }
  if (policy.trust_new) return TrustAction::proceed_and_record;
  return policy.can_ask ? TrustAction::ask : TrustAction::refuse_unknown;
}

std::string changed_key_warning(std::string_view host, const KnownHost& recorded,
                                std::string_view presented, std::string_view known_hosts_path) {
  const std::string bar(59, '@');
  std::string out;
  out += bar + "\n";
  out += "@    WARNING: PARLEY SERVER IDENTIFICATION HAS CHANGED!   @\n";
  out += bar + "\n";
  out += "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n";
  out += "Someone could be intercepting this connection right now (man-in-the-middle),\n";
  out += "or the server's identity key has been replaced.\n";
  out += "Server:    " + std::string(host) + "\n";
  out += "Recorded:  " + recorded.fingerprint + "\n";
  out += "Presented: " + std::string(presented) + "\n";
  out += "The recorded key is in " + std::string(known_hosts_path) + " line " +
         std::to_string(recorded.line) + ".\n";
  out += "If you have confirmed the new key with the server's operator, connect once with\n";
  out += "--fingerprint " + std::string(presented) + " (it then replaces the old key),\n";
  out += "or remove the old key with: parley known-hosts remove " + std::string(host) + "\n";
  out += "Not connecting.\n";
  return out;
}

std::string unknown_host_question(std::string_view host, std::string_view presented) {
  return "The authenticity of parley server '" + std::string(host) +
         "' can't be established.\nIts key fingerprint is " + std::string(presented) + ".\n";
}

std::optional<bool> parse_yes_no(std::string_view answer) {
  std::string lower(trim_blanks(answer));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "yes" || lower == "y") return true;
  if (lower == "no" || lower == "n") return false;
  return std::nullopt;
}

}  // namespace parley::client
