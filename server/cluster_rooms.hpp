// The cluster's rooms (docs/cluster.md): the hub's RoomReplicator. Each room with says waiting
// has one coroutine that proposes them to JetStream one at a time, as its RoomSequencer says,
// and answers each sender when the store has decided; the node's ordered consumer brings every
// stored message back through on_stored(), in the stream's order, for the hub to deliver.
//
// JetStream is reached through RoomStore, an interface: the NATS link implements it, unit tests
// use a model of the store.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "hub.hpp"
#include "room_sequencer.hpp"

namespace parley::server {

class RoomStore {
 public:
  struct Stored {
    std::string data;
    std::uint64_t stream_seq = 0;
  };
  // Another message was stored on the subject since the expected one (JetStream error 10071).
  struct WrongLastSequence : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  virtual ~RoomStore() = default;
  // Stores `data` on `subject` only if the subject's last message has stream sequence
  // `expect_last` (nullopt: only if the subject holds none); returns the new stream sequence.
  // Throws WrongLastSequence when the condition fails, another exception on any other failure.
  virtual boost::asio::awaitable<std::uint64_t> publish(
      std::string subject, std::string data, std::optional<std::uint64_t> expect_last) = 0;
  // The subject's last stored message, nullopt when it holds none. Throws on failure.
  virtual boost::asio::awaitable<std::optional<Stored>> last(std::string subject) = 0;
};

struct ClusterRoomsStats {
  std::uint64_t stored = 0;     // says this node stored
  std::uint64_t conflicts = 0;  // proposals another node's store beat
  std::uint64_t refused = 0;    // says answered `unavailable`
  std::uint64_t applied = 0;    // stored messages applied from the stream
  std::uint64_t skipped = 0;    // stream messages that were not ours to read (bad subject/payload)
};

class ClusterRooms final : public RoomReplicator {
 public:
  // After this many conflicts in a row one say is refused: other nodes are storing in that room
  // faster than this one can read the tip. Three nodes saying at full speed in one room under
  // ASan on two cores once lost 32 in a row; each conflict costs one round trip, so the bound
  // stays well under a second of retrying.
  static constexpr int kMaxConflicts = 256;

  ClusterRooms(boost::asio::any_io_executor loop, RoomStore& store, Hub& hub, std::string prefix,
               std::size_t max_waiting_per_room,
               std::function<std::chrono::system_clock::time_point()> clock);

  bool propose(const std::string& key, SessionId session, const RequestId& request,
               ClusterMessage message) override;

  // One message of the node's ordered consumer on room_subject_wildcard(prefix).
  void on_stored(std::string_view subject, std::string_view data, std::uint64_t stream_seq);

  // The link went down: every waiting say is refused now, and new ones until it is back (a say
  // is never delivered outside the stream's order, so none is taken meanwhile).
  void set_available(bool available, std::string_view why = {});
  bool available() const { return available_; }
  // Every waiting say refused now.
  void refuse_all(std::string_view why);

  const ClusterRoomsStats& stats() const { return stats_; }
  std::size_t rooms_waiting() const { return rooms_.size(); }

 private:
  struct Room {
    RoomSequencer sequencer;
    std::uint64_t pump = 0;  // which pump serves it: a room dropped and made again gets a new one
  };

  boost::asio::awaitable<void> pump(std::string key, std::uint64_t id);
  // The room `key` if pump `id` still serves it (the map may change while a pump waits).
  RoomSequencer* served(const std::string& key, std::uint64_t id);

  boost::asio::any_io_executor loop_;
  RoomStore& store_;
  Hub& hub_;
  std::string prefix_;
  std::size_t max_waiting_;
  std::function<std::chrono::system_clock::time_point()> clock_;
  // Rooms with says waiting or in flight; a room's entry goes when its pump finds nothing to do.
  std::unordered_map<std::string, Room> rooms_;
  std::uint64_t next_pump_ = 0;
  bool available_ = true;
  ClusterRoomsStats stats_;
};

}  // namespace parley::server
