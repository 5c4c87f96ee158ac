#include "members.hpp"

#include <boost/asio/this_coro.hpp>

#include "parley/concat.hpp"

namespace parley::bench {

void Members::on_closed(Connection& connection, std::string_view why) {
  ++closed_;
  if (error_.empty())
    error_ = "client " + std::to_string(connection.index()) + ": " + std::string(why);
}

boost::asio::awaitable<bool> Members::connect_members(std::size_t clients, std::size_t rooms,
                                                      std::size_t parallel,
                                                      Clock::time_point deadline) {
  const auto executor = co_await boost::asio::this_coro::executor;
  for (std::size_t i = 0; i < clients; ++i) {
    while (i - ready_ - closed_ >= parallel && error_.empty()) {
      if (Clock::now() > deadline) co_return false;
      co_await pause(std::chrono::milliseconds(1));
    }
    if (!error_.empty()) co_return false;
    connections_.push_back(open(executor, i, i % rooms, concat("b", std::to_string(i))));
  }
  while (ready_ < clients && error_.empty()) {
    if (Clock::now() > deadline) co_return false;
    co_await pause(std::chrono::milliseconds(5));
  }
  co_return error_.empty();
}

std::shared_ptr<Connection> Members::open(const boost::asio::any_io_executor& executor,
                                          std::size_t index, std::size_t room, std::string name) {
  CodecOptions options{std::move(name), {system_.room_name(room)}, &read_one_in_};
  auto connection =
      std::make_shared<Connection>(executor, system_.make(options), *this, index, read_buffer_);
  Connection::spawn(connection, target_.endpoint);
  return connection;
}

void Members::close_all() {
  for (auto& connection : connections_)
    connection->close();
}

}  // namespace parley::bench
