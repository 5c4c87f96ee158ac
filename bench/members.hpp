// The clients of a room-based scenario (fanout, idle): client i joins room i mod R. Connects
// them with bounded parallelism and keeps the counts every such scenario reports.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "scenarios.hpp"

namespace parley::bench {

class Members : public ConnectionOwner {
 public:
  void on_ready(Connection&) override { ++ready_; }
  void on_closed(Connection& connection, std::string_view why) override;
  // Only a scenario that turns sampling on (read_one_in_ > 1) gets unread messages.
  void on_unread_message(Connection&) override { ++unread_unexpected_; }

 protected:
  Members(System& system, Target target) : system_(system), target_(target) {}

  // Opens `clients` connections, at most `parallel` still connecting at a time. True when every
  // one is ready before the deadline and none failed (error_ says why otherwise).
  boost::asio::awaitable<bool> connect_members(std::size_t clients, std::size_t rooms,
                                               std::size_t parallel, Clock::time_point deadline);
  // A polite goodbye on every connection.
  void close_all();
  // Makes client `index` (a member of room `room`, called `name` where the protocol names
  // clients) and starts connecting it; the caller keeps it (connections_ or elsewhere).
  std::shared_ptr<Connection> open(const boost::asio::any_io_executor& executor, std::size_t index,
                                   std::size_t room, std::string name);

  System& system_;
  Target target_;
  ReadBuffer read_buffer_;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::size_t ready_ = 0;
  std::size_t closed_ = 0;
  std::string error_;              // the first failure
  std::uint32_t read_one_in_ = 1;  // handed to every codec (CodecOptions::read_one_in)
  std::uint64_t unread_unexpected_ = 0;
};

}  // namespace parley::bench
