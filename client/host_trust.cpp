#include "host_trust.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "exit_codes.hpp"
#include "line_reader.hpp"

namespace parley::client {

namespace asio = boost::asio;

KnownHostsTrust::KnownHostsTrust(std::string known_hosts_path, ServerAddress address,
                                 TrustPolicy policy)
    : path_(std::move(known_hosts_path)),
      address_(std::move(address)),
      name_(known_hosts_name(address_)),
      policy_(std::move(policy)) {}

void KnownHostsTrust::record(const std::string& fingerprint) {
  accepted_ = fingerprint;
  if (path_.empty()) {
    std::cerr << "parley: warning: no known_hosts file (HOME is not set): key not recorded\n";
    return;
  }
  try {
    const std::size_t line = append_known_host(path_, name_, fingerprint);
    std::cerr << "parley: recorded " << name_ << " " << fingerprint << " in " << path_ << " line "
              << line << "\n";
  } catch (const std::exception& e) {
    // Not fatal: the key was accepted for this connection; say why it will be asked again.
    std::cerr << "parley: warning: " << e.what() << "\n";
  }
}

void KnownHostsTrust::replace(const std::string& fingerprint) {
  accepted_ = fingerprint;
  try {
    for (const KnownHost& old : remove_known_host(path_, name_))
      std::cerr << "parley: removed the old key of " << name_ << " (" << old.fingerprint
                << ", line " << old.line << " of " << path_ << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "parley: warning: " << e.what() << "; the old key stays recorded\n";
    return;
  }
  record(fingerprint);
}

asio::awaitable<bool> KnownHostsTrust::ask(const std::string& fingerprint) {
  asked_ = true;
  std::cerr << unknown_host_question(name_, fingerprint);
  LineReader answers(co_await asio::this_coro::executor, STDIN_FILENO, 1024);
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::cerr << (attempt == 0 ? "Are you sure you want to continue connecting (yes/no)? "
                               : "Please type 'yes' or 'no': ")
              << std::flush;
    std::optional<std::string> answer;
    try {
      answer = co_await answers.next_line();
    } catch (const LineTooLong&) {
      continue;
    }
    if (!answer) break;  // EOF on the terminal: no
    if (auto yes = parse_yes_no(*answer)) co_return *yes;
  }
  co_return false;
}

asio::awaitable<void> KnownHostsTrust::check(const std::string& fingerprint) {
  if (!accepted_.empty() && accepted_ == fingerprint) co_return;  // a reconnect after asking
  KnownHosts known;
  if (!path_.empty()) {
    try {
      known = load_known_hosts(path_);
    } catch (const std::exception& e) {
      throw ClientError(Exit::usage, e.what());
    }
    if (known.malformed_lines() > 0)
      std::cerr << "parley: warning: " << path_ << ": " << known.malformed_lines()
                << " malformed line(s) ignored\n";
  }
  const HostKeyLookup lookup = known.lookup(name_, fingerprint);
  switch (decide_trust(lookup, fingerprint, policy_)) {
    case TrustAction::proceed:
      accepted_ = fingerprint;
      co_return;
    case TrustAction::proceed_and_record:
      record(fingerprint);
      co_return;
    case TrustAction::proceed_and_replace:
      replace(fingerprint);
      co_return;
    case TrustAction::ask:
      if (!co_await ask(fingerprint))
        throw ClientError(Exit::handshake,
                          "host key verification failed: " + fingerprint + " not accepted");
      record(fingerprint);
      co_return;
    case TrustAction::refuse_unknown:
      throw ClientError(Exit::handshake, "host key verification failed: " + name_ + " is not in " +
                                             (path_.empty() ? std::string("known_hosts") : path_) +
                                             " (its key is " + fingerprint +
                                             "); accept it with --trust-new or --fingerprint " +
                                             fingerprint);
    case TrustAction::refuse_changed:
      std::cerr << changed_key_warning(name_, *lookup.recorded, fingerprint, path_);
      throw ClientError(Exit::host_key, "host key for " + name_ + " has changed");
    case TrustAction::refuse_not_pinned:
      throw ClientError(Exit::host_key, "host key mismatch: " + name_ + " presented " +
                                            fingerprint + ", --fingerprint expects " +
                                            *policy_.pinned);
  }
}

}  // namespace parley::client
