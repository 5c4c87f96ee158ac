// The pure parts of joining a cluster: a node's entry and the identity check.
#include <gtest/gtest.h>

#include "cluster_member.hpp"

namespace parley::server {
namespace {

NodeEntry entry(std::string fingerprint, std::string process) {
  NodeEntry e;
  e.fingerprint = std::move(fingerprint);
  e.process = std::move(process);
  return e;
}

TEST(ClusterMember, NodeEntriesRoundTrip) {
  const NodeEntry e = entry("SHA256:abc", "0123456789abcdef");
  EXPECT_EQ(encode_node_entry(e), R"({"fingerprint":"SHA256:abc","process":"0123456789abcdef"})");
  EXPECT_EQ(decode_node_entry(encode_node_entry(e)), e);
  EXPECT_FALSE(decode_node_entry(""));
  EXPECT_FALSE(decode_node_entry("[]"));
  EXPECT_FALSE(decode_node_entry(R"({"fingerprint":"x"})"));
  EXPECT_FALSE(decode_node_entry(R"({"fingerprint":1,"process":"p"})"));
}

TEST(ClusterMember, EveryOtherNodeMustServeTheSameFingerprint) {
  std::map<std::string, NodeEntry> others;
  EXPECT_FALSE(fingerprint_conflict("a", "SHA256:one", others));
  others.emplace("b", entry("SHA256:one", "p1"));
  others.emplace("a", entry("SHA256:old", "p0"));  // this node's own name: not compared
  EXPECT_FALSE(fingerprint_conflict("a", "SHA256:one", others));
  others.emplace("c", entry("SHA256:two", "p2"));
  EXPECT_EQ(fingerprint_conflict("a", "SHA256:one", others),
            "node c serves fingerprint SHA256:two, this node (a) serves SHA256:one: every node "
            "must serve the same identity key (docs/cluster.md)");
  EXPECT_EQ(nodes_bucket([] {
              config::Cluster c;
              c.name = "chat";
              return c;
            }()),
            "chat_nodes");
}

}  // namespace
}  // namespace parley::server
