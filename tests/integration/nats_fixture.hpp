// A real nats-server with JetStream for the cluster tests: Debian's binary on a loopback port
// of its own, with its store in a private directory. It can be stopped, killed and started
// again on the same port and store, as a NATS outage looks to parleyd. Every wait is bounded.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "harness.hpp"

namespace parley::it {

class NatsServer {
 public:
  // The binary: $PARLEY_TEST_NATS_SERVER, else nats-server in /usr/sbin, /usr/bin or $PATH.
  static std::optional<std::string> binary();

  // Picks a free loopback port; starts nothing yet.
  NatsServer();
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Starts the server and waits (bounded) until it says it is ready for clients.
  ::testing::AssertionResult start();
  // SIGTERM and wait (SIGKILL at the deadline); then start() may run it again.
  void stop();
  // SIGKILL: a crash. JetStream keeps what it had synced to the store.
  void kill();
  // stop() then start(): the same port, the same store.
  ::testing::AssertionResult restart();

  bool running() const { return process_ != nullptr; }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  // What the server logged (its stderr) in its current or last run.
  std::string log() const;

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::string last_log_;
};

// A loopback port nothing listens on (bound by the kernel's choice, then closed).
std::uint16_t unused_port();

// `server`'s default config plus a cluster block: these NATS servers, the tests' cluster name,
// and `node` (empty: the default).
nlohmann::json with_cluster(ServerProcess& server, const std::vector<std::string>& servers,
                            const std::string& node);

// Starts one parleyd per node name on `nats` (rate and burst raised: tests send in bursts),
// each awaited until it logged cluster_joined.
::testing::AssertionResult start_nodes(const NatsServer& nats,
                                       const std::vector<std::string>& names,
                                       std::vector<std::unique_ptr<ServerProcess>>& nodes);

}  // namespace parley::it

// Skips the test, saying why, when nats-server is not installed; fails nothing.
#define PARLEY_REQUIRE_NATS_SERVER()                                                          \
  do {                                                                                        \
    if (!::parley::it::NatsServer::binary())                                                  \
      GTEST_SKIP() << "nats-server is not installed (apt-get install nats-server, or "        \
                      "scripts/install-deps.sh; or set PARLEY_TEST_NATS_SERVER to its path)"; \
  } while (false)
