// Cluster mode's rooms on a running node (docs/cluster.md): the rooms stream, this node's
// ordered consumer on it, ClusterRooms as the hub's replicator, and what the link's state means
// for them (`cluster_degraded` / `cluster_restored`). Made once at start, after the node joined.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

#include "cluster_member.hpp"
#include "cluster_rooms.hpp"
#include "event_log.hpp"
#include "hub.hpp"

namespace parley::server {

// ClusterRooms's RoomStore on the NATS link.
class NatsRoomStore final : public RoomStore {
 public:
  NatsRoomStore(NatsLink& link, std::string stream) : link_(link), stream_(std::move(stream)) {}
  boost::asio::awaitable<std::uint64_t> publish(std::string subject, std::string data,
                                                std::optional<std::uint64_t> expect_last) override;
  boost::asio::awaitable<std::optional<Stored>> last(std::string subject) override;

 private:
  NatsLink& link_;
  std::string stream_;
};

// Says waiting per room on one node, at most (RoomSequencer): beyond it, `unavailable`.
inline constexpr std::size_t kMaxWaitingPerRoom = 1024;

class RoomsOverNats {
 public:
  // Makes sure the stream exists (`<name>_rooms`, subjects `<name>.room.*`, messages kept for
  // the history's age and count), starts the consumer, and makes the hub use the cluster.
  // Throws ClusterError.
  static boost::asio::awaitable<std::unique_ptr<RoomsOverNats>> start(
      ClusterMember& member, Hub& hub, EventLog& log, const config::History& history);
  // Gives the hub back its single-node relay; the link's handlers must not run any more (the
  // loop has stopped) or be dropped with the link.
  ~RoomsOverNats();
  RoomsOverNats(const RoomsOverNats&) = delete;
  RoomsOverNats& operator=(const RoomsOverNats&) = delete;

  const ClusterRoomsStats& stats() const { return rooms_.stats(); }

 private:
  RoomsOverNats(boost::asio::any_io_executor loop, ClusterMember& member, Hub& hub, EventLog& log);
  void on_state(LinkState state);

  Hub& hub_;
  EventLog& log_;
  NatsRoomStore store_;
  ClusterRooms rooms_;
  // The link's handlers hold it weakly: once this object is gone they do nothing.
  std::shared_ptr<RoomsOverNats*> self_ = std::make_shared<RoomsOverNats*>(this);
};

std::string rooms_stream(const config::Cluster& cluster);

}  // namespace parley::server
