// Whether to go on with a server whose key we have just verified (PROTOCOL.md 2.4 step 3):
// known_hosts, --fingerprint, --trust-new and whether a human can be asked. Pure code.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "known_hosts.hpp"

namespace parley::client {

enum class TrustAction {
  proceed,              // known (or pinned and already recorded)
  proceed_and_record,   // new, accepted by flag: append to known_hosts
  proceed_and_replace,  // changed, and --fingerprint names the new key: replace the old line
  ask,                  // new, and a human is at the terminal
  refuse_unknown,       // new, nobody to ask and no flag to accept it
  refuse_changed,       // differs from known_hosts and nobody pinned this exact key
  refuse_not_pinned,    // differs from --fingerprint
};

struct TrustPolicy {
  std::optional<std::string> pinned;  // --fingerprint
  bool trust_new = false;             // --trust-new
  bool can_ask = false;               // stdin and stderr are a terminal
};

// An explicit --fingerprint decides alone: it may even override a changed known_hosts entry,
// which is how a user confirms a key change out of band, and the new key then replaces the old
// one (or the next plain connect would be refused again). A pinned key the file does not know
// yet is recorded, since the user vouched for it more strongly than a first use does.
TrustAction decide_trust(const HostKeyLookup& lookup, std::string_view presented,
                         const TrustPolicy& policy);

// The ssh-style warning for refuse_changed: both fingerprints, the file and the line to fix.
std::string changed_key_warning(std::string_view host, const KnownHost& recorded,
                                std::string_view presented, std::string_view known_hosts_path);

// The question for `ask`, without the answer prompt.
std::string unknown_host_question(std::string_view host, std::string_view presented);

// "yes"/"y" and "no"/"n" (any case, surrounding blanks ignored); nullopt for anything else.
std::optional<bool> parse_yes_no(std::string_view answer);

}  // namespace parley::client
