// parleyd joining a cluster at start (docs/cluster.md) over a real nats-server: nodes with the
// same identity key join, one with another key or a taken node name is refused with a clear
// message and exit code 1, and an unreachable NATS fails or degrades as configured. Also
// listen[].reuse_port, which lets several nodes share one port on one machine.
#include <gtest/gtest.h>

#include <csignal>
#include <memory>

#include "nats_fixture.hpp"
#include "vectors.hpp"

namespace parley::it {
namespace {

const milliseconds kBound = kStartTimeout * kSlowdown;

// Another identity than the test servers' (the vectors' transport key).
std::string other_identity(ServerProcess& server) {
  const auto& key = test::vectors("handshake.json")["keys"]["transport"];
  return server.dir().write("other.pem", key["private_key_pkcs8_pem"].get<std::string>(), 0600);
}

std::string other_fingerprint() {
  return test::vectors("handshake.json")["keys"]["transport"]["fingerprint"].get<std::string>();
}

class ClusterJoin : public ::testing::Test {
 protected:
  void SetUp() override {
    PARLEY_REQUIRE_NATS_SERVER();
    ASSERT_TRUE(nats_.start());
  }
  NatsServer nats_;
};

TEST_F(ClusterJoin, NodesWithTheSameKeyJoinAndAnotherKeyIsRefused) {
  ServerProcess a, b, c;
  ASSERT_TRUE(a.start(with_cluster(a, {nats_.url()}, "a")));
  auto joined = a.wait_for_event("cluster_joined", kBound);
  ASSERT_TRUE(joined) << a.log_text();
  EXPECT_EQ((*joined)["node"], "a");
  EXPECT_EQ((*joined)["servers"], nlohmann::json::array({nats_.url()}));
  EXPECT_EQ((*joined)["connected"], nats_.url());
  EXPECT_EQ((*joined)["nodes"], 1);
  EXPECT_FALSE(joined->contains("took_over"));

  ASSERT_TRUE(b.start(with_cluster(b, {nats_.url()}, "b")));
  joined = b.wait_for_event("cluster_joined", kBound);
  ASSERT_TRUE(joined) << b.log_text();
  EXPECT_EQ((*joined)["nodes"], 2);
  // It joins before it listens: a refused node never accepts a client.
  EXPECT_TRUE(b.wait_for_event("listening"));

  auto config = with_cluster(c, {nats_.url()}, "c");
  config["identity_key"] = other_identity(c);
  ASSERT_TRUE(c.launch(config));
  const ExitStatus status = c.wait_exit(kBound);
  EXPECT_TRUE(status.exited && status.code == 1) << status;
  const auto refused = c.wait_for_event("cluster_refused", kDefaultTimeout);
  ASSERT_TRUE(refused) << c.log_text();
  const std::string error = (*refused)["error"];
  EXPECT_TRUE(error.starts_with("node a serves fingerprint " + vector_server_fingerprint() +
                                ", this node (c) serves " + other_fingerprint() +
                                ": every node must serve the same identity key"))
      << error;
  EXPECT_TRUE(c.events("listening").empty());
  EXPECT_NE(c.log_text().find("parleyd: cluster: node a serves fingerprint"), std::string::npos);

  // The refused node left no entry behind: the next good node counts a and b only.
  ServerProcess d;
  ASSERT_TRUE(d.start(with_cluster(d, {nats_.url()}, "d")));
  joined = d.wait_for_event("cluster_joined", kBound);
  ASSERT_TRUE(joined) << d.log_text();
  EXPECT_EQ((*joined)["nodes"], 3);
}

TEST_F(ClusterJoin, ANodeNameServedByARunningParleydIsRefusedAndAStaleOneTakenOver) {
  ServerProcess a, twin;
  ASSERT_TRUE(a.start(with_cluster(a, {nats_.url()}, "a")));
  ASSERT_TRUE(a.wait_for_event("cluster_joined", kBound));
  ASSERT_TRUE(twin.launch(with_cluster(twin, {nats_.url()}, "a")));
  const ExitStatus status = twin.wait_exit(kBound);
  EXPECT_TRUE(status.exited && status.code == 1) << status;
  const auto refused = twin.wait_for_event("cluster_refused", kDefaultTimeout);
  ASSERT_TRUE(refused) << twin.log_text();
  EXPECT_NE(std::string((*refused)["error"]).find("node a is already in the cluster"),
            std::string::npos)
      << (*refused)["error"];

  // The first one crashes: its entry stops being refreshed, and a new process takes it over.
  a.signal(SIGKILL);
  a.wait_exit();
  ServerProcess restarted;
  ASSERT_TRUE(restarted.start(with_cluster(restarted, {nats_.url()}, "a")));
  const auto joined = restarted.wait_for_event("cluster_joined", kBound);
  ASSERT_TRUE(joined) << restarted.log_text();
  EXPECT_EQ((*joined)["took_over"], true);
}

TEST_F(ClusterJoin, TheNodeNameDefaultsToHostAndInstance) {
  ServerProcess a;
  a.set_env("PARLEYD_INSTANCE", "7");
  ASSERT_TRUE(a.start(with_cluster(a, {nats_.url()}, "")));
  const auto joined = a.wait_for_event("cluster_joined", kBound);
  ASSERT_TRUE(joined) << a.log_text();
  const std::string node = (*joined)["node"];
  EXPECT_TRUE(node.ends_with("-7")) << node;
  EXPECT_GT(node.size(), 2u);
}

TEST(ClusterUnreachable, FailsTheStartNamingTheServers) {
  ServerProcess a;
  const std::string url = "nats://127.0.0.1:" + std::to_string(unused_port());
  ASSERT_TRUE(a.launch(with_cluster(a, {url}, "a")));
  const ExitStatus status = a.wait_exit(kBound);
  EXPECT_TRUE(status.exited && status.code == 1) << status;
  const auto refused = a.wait_for_event("cluster_refused", kDefaultTimeout);
  ASSERT_TRUE(refused) << a.log_text();
  EXPECT_TRUE(std::string((*refused)["error"]).starts_with("cannot reach NATS at " + url + ": "))
      << (*refused)["error"];
  EXPECT_TRUE(a.events("listening").empty());
}

TEST(ClusterUnreachable, SingleRunsThisNodeAlone) {
  ServerProcess a;
  const std::string url = "nats://127.0.0.1:" + std::to_string(unused_port());
  auto config = with_cluster(a, {url}, "a");
  config["cluster"]["when_unreachable"] = "single";
  ASSERT_TRUE(a.start(config));
  const auto unavailable = a.wait_for_event("cluster_unavailable", kDefaultTimeout);
  ASSERT_TRUE(unavailable) << a.log_text();
  EXPECT_EQ((*unavailable)["level"], "warn");
  EXPECT_EQ((*unavailable)["servers"], nlohmann::json::array({url}));
  TestClient client;
  ASSERT_TRUE(client.open(a.port()));
  client.expect_alive();
}

TEST(ReusePort, ServersThatAllSetItShareOnePort) {
  ServerProcess a, b, c;
  auto config = a.default_config();
  config["listen"][0]["reuse_port"] = true;
  ASSERT_TRUE(a.start(config));
  config = b.default_config();
  config["listen"][0]["port"] = a.port();
  config["listen"][0]["reuse_port"] = true;
  ASSERT_TRUE(b.start(config));
  EXPECT_EQ(b.port(), a.port());
  // One that does not set it cannot join them.
  config = c.default_config();
  config["listen"][0]["port"] = a.port();
  ASSERT_TRUE(c.launch(config));
  const ExitStatus refused = c.wait_exit(kBound);
  EXPECT_TRUE(refused.exited && refused.code == 1) << refused;
  EXPECT_NE(c.log_text().find("cannot listen on 127.0.0.1:" + std::to_string(a.port())),
            std::string::npos)
      << c.log_text();

  // The kernel spreads connections over both (by a hash of the source port: with 16
  // connections, all on one server has a chance of 1 in 32768).
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(clients.back()->open(a.port()));
  }
  EXPECT_TRUE(a.wait_for_event("handshake_ok")) << "server a got no connection";
  EXPECT_TRUE(b.wait_for_event("handshake_ok")) << "server b got no connection";
}

}  // namespace
}  // namespace parley::it
