// ClusterRooms's RoomStore over the NATS link: the rooms stream's publish with an expected last
// subject sequence, and the read of a subject's last message.
#pragma once

#include "cluster_rooms.hpp"
#include "nats_link.hpp"

namespace parley::server {

class NatsRoomStore final : public RoomStore {
 public:
  NatsRoomStore(NatsLink& link, std::string stream) : link_(link), stream_(std::move(stream)) {}

  boost::asio::awaitable<std::uint64_t> publish(
      std::string subject, std::string data, std::optional<std::uint64_t> expect_last) override {
    try {
      // The link's 0 is "the subject holds no message yet".
      co_return co_await link_.js_publish(std::move(subject), std::move(data),
                                          expect_last.value_or(0));
    } catch (const parley::server::WrongLastSequence& e) {
      throw RoomStore::WrongLastSequence(e.what());
    }
  }

  boost::asio::awaitable<std::optional<Stored>> last(std::string subject) override {
    auto message = co_await link_.js_last_message(stream_, std::move(subject));
    if (!message) co_return std::nullopt;
    co_return Stored{std::move(message->data), message->stream_seq};
  }

 private:
  NatsLink& link_;
  std::string stream_;
};

}  // namespace parley::server
