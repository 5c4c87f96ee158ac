// Cluster mode's directory on a running node (docs/cluster.md): the `<name>_nicks` bucket, this
// node's reader of it, its subject for direct messages, the refresh and expiry timers, and
// ClusterDirectory as the hub's Directory. Made once at start, after the node joined.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>

#include "cluster_directory.hpp"
#include "cluster_member.hpp"
#include "hub.hpp"

namespace parley::server {

// ClusterDirectory's store on the NATS link.
class NatsDirectoryStore final : public DirectoryStore {
 public:
  NatsDirectoryStore(NatsLink& link, std::string bucket, std::string prefix)
      : link_(link), bucket_(std::move(bucket)), prefix_(std::move(prefix)) {}
  boost::asio::awaitable<bool> create(std::string key, std::string value) override;
  boost::asio::awaitable<bool> update(std::string key, std::string value,
                                      std::uint64_t revision) override;
  boost::asio::awaitable<void> put(std::string key, std::string value) override;
  boost::asio::awaitable<std::optional<Entry>> get(std::string key) override;
  void send(std::string node, std::string payload) override;

 private:
  NatsLink& link_;
  std::string bucket_;
  std::string prefix_;
};

class DirectoryOverNats {
 public:
  // Makes sure the bucket exists, reads it from its start, listens for direct messages, and
  // makes the hub use the directory. Throws ClusterError.
  static boost::asio::awaitable<std::unique_ptr<DirectoryOverNats>> start(ClusterMember& member,
                                                                          Hub& hub);
  // Gives the hub back its single-node nicks; the link's handlers must not run any more.
  ~DirectoryOverNats();
  DirectoryOverNats(const DirectoryOverNats&) = delete;
  DirectoryOverNats& operator=(const DirectoryOverNats&) = delete;

  // The refresh and expiry timers; started apart from start(), whose set-up runs the loop alone
  // until it is idle.
  void start_timers(boost::asio::any_io_executor loop);

  const DirectoryStats& stats() const { return directory_.stats(); }

  struct Ticker;  // the timers' coroutine state (directory_over_nats.cpp)

 private:
  DirectoryOverNats(boost::asio::any_io_executor loop, ClusterMember& member, Hub& hub);

  Hub& hub_;
  NatsDirectoryStore store_;
  ClusterDirectory directory_;
  std::shared_ptr<Ticker> ticker_;
  bool ticking_ = false;
  // The link's handlers hold it weakly: once this object is gone they do nothing.
  std::shared_ptr<DirectoryOverNats*> self_ = std::make_shared<DirectoryOverNats*>(this);
};

// The bucket of session entries for a cluster name, and the stream that holds it.
std::string nicks_bucket(const config::Cluster& cluster);

}  // namespace parley::server
