// The TrustHook the parley binary uses: known_hosts, --fingerprint, --trust-new, and an
// ssh-style question on the terminal.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "address.hpp"
#include "connection.hpp"
#include "trust.hpp"

namespace parley::client {

class KnownHostsTrust : public TrustHook {
 public:
  // known_hosts_path may be empty (no HOME): then nothing is recorded and only
  // --fingerprint or --trust-new can let a connection through.
  KnownHostsTrust(std::string known_hosts_path, ServerAddress address, TrustPolicy policy);

  boost::asio::awaitable<void> check(const std::string& fingerprint) override;

  // True once a human has been asked (the server may have given up on us meanwhile, so the
  // caller reconnects once; the key is then known).
  bool asked() const { return asked_; }
  // Set after a recorded or accepted key: a reconnect needs no question.
  const std::string& accepted() const { return accepted_; }

 private:
  boost::asio::awaitable<bool> ask(const std::string& fingerprint);
  void record(const std::string& fingerprint);
  // --fingerprint confirmed a changed key: the old lines for this host go, the new key is added.
  void replace(const std::string& fingerprint);

  std::string path_;
  ServerAddress address_;
  std::string name_;
  TrustPolicy policy_;
  bool asked_ = false;
  std::string accepted_;
};

}  // namespace parley::client
