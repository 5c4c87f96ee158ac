#include "rooms_over_nats.hpp"

#include <boost/asio/this_coro.hpp>

#include <chrono>

#include "cluster_wire.hpp"

namespace parley::server {

namespace asio = boost::asio;

std::string rooms_stream(const config::Cluster& cluster) {
  return cluster.name + "_rooms";
}

asio::awaitable<std::uint64_t> NatsRoomStore::publish(std::string subject, std::string data,
                                                      std::optional<std::uint64_t> expect_last) {
  // The link's 0 means "the subject holds no message yet". Named, not a temporary inside the
  // co_await (g++ 12).
  auto stored = link_.js_publish(std::move(subject), std::move(data), expect_last.value_or(0));
  try {
    co_return co_await std::move(stored);
  } catch (const parley::server::WrongLastSequence& e) {
    throw RoomStore::WrongLastSequence(e.what());
  }
}

asio::awaitable<std::optional<RoomStore::Stored>> NatsRoomStore::last(std::string subject) {
  auto read = link_.js_last_message(stream_, std::move(subject));
  auto message = co_await std::move(read);
  if (!message) co_return std::nullopt;
  co_return Stored{std::move(message->data), message->stream_seq};
}

RoomsOverNats::RoomsOverNats(asio::any_io_executor loop, ClusterMember& member, Hub& hub,
                             EventLog& log)
    : hub_(hub),
      log_(log),
      store_(member.link(), rooms_stream(member.cluster())),
      rooms_(std::move(loop), store_, hub, member.cluster().name, kMaxWaitingPerRoom,
             [] { return std::chrono::system_clock::now(); }) {}

RoomsOverNats::~RoomsOverNats() {
  hub_.set_replicator(nullptr, "");
}

asio::awaitable<std::unique_ptr<RoomsOverNats>> RoomsOverNats::start(
    ClusterMember& member, Hub& hub, EventLog& log, const config::History& history) {
  const auto loop = co_await asio::this_coro::executor;
  std::unique_ptr<RoomsOverNats> node(new RoomsOverNats(loop, member, hub, log));
  const config::Cluster& cluster = member.cluster();
  StreamConfig stream;
  stream.name = rooms_stream(cluster);
  stream.subjects = {room_subject_wildcard(cluster.name)};
  // What history replays is kept; a room's seq goes on without its messages (docs/cluster.md).
  stream.max_age = std::chrono::seconds(std::max<std::uint64_t>(history.max_age_s, 60));
  stream.max_msgs_per_subject =
      static_cast<std::int64_t>(std::max<std::uint64_t>(history.messages, 1));
  auto ensure = member.link().ensure_stream(std::move(stream));
  co_await std::move(ensure);

  const std::weak_ptr<RoomsOverNats*> self = node->self_;
  auto subscribe = member.link().js_subscribe(
      rooms_stream(cluster), room_subject_wildcard(cluster.name), std::nullopt,
      [self](StreamMessage message) {
        if (const auto alive = self.lock())
          (*alive)->rooms_.on_stored(message.subject, message.data, message.stream_seq);
      });
  co_await std::move(subscribe);
  member.link().on_state([self](LinkState state) {
    if (const auto alive = self.lock()) (*alive)->on_state(state);
  });
  hub.set_replicator(&node->rooms_, cluster.node);
  co_return node;
}

void RoomsOverNats::on_state(LinkState state) {
  const bool up = state == LinkState::reconnected;
  if (up == rooms_.available()) return;
  rooms_.set_available(up, "the cluster is unreachable");
  if (up)
    log_.cluster_restored();
  else
    log_.cluster_degraded(name_of(state));
}

}  // namespace parley::server
