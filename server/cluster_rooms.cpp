#include "cluster_rooms.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace parley::server {

namespace asio = boost::asio;

ClusterRooms::ClusterRooms(asio::any_io_executor loop, RoomStore& store, Hub& hub,
                           std::string prefix, std::size_t max_waiting_per_room,
                           std::function<std::chrono::system_clock::time_point()> clock)
    : loop_(std::move(loop)),
      store_(store),
      hub_(hub),
      prefix_(std::move(prefix)),
      max_waiting_(max_waiting_per_room),
      clock_(std::move(clock)) {}

bool ClusterRooms::propose(const std::string& key, SessionId session, const RequestId& request,
                           ClusterMessage message) {
  if (!available_) {
    ++stats_.refused;
    return false;
  }
  auto [it, created] = rooms_.try_emplace(key, Room{RoomSequencer(max_waiting_), 0});
  PendingSay say;
  say.session = session;
  say.request = request;
  say.message = std::move(message);
  if (!it->second.sequencer.enqueue(std::move(say))) {
    ++stats_.refused;
    if (created) rooms_.erase(it);
    return false;
  }
  // A room with an entry already has its pump running: it takes the new say in turn.
  if (created) {
    it->second.pump = ++next_pump_;
    asio::co_spawn(loop_, pump(key, it->second.pump), asio::detached);
  }
  return true;
}

RoomSequencer* ClusterRooms::served(const std::string& key, std::uint64_t id) {
  const auto it = rooms_.find(key);
  return it != rooms_.end() && it->second.pump == id ? &it->second.sequencer : nullptr;
}

asio::awaitable<void> ClusterRooms::pump(std::string key, std::uint64_t id) {
  const std::string subject = room_subject(prefix_, key);
  int conflicts = 0;
  // After every co_await the room is looked up again: refuse_all() may have dropped it.
  for (;;) {
    RoomSequencer* room = served(key, id);
    if (!room) co_return;
    if (room->waiting() == 0) {
      rooms_.erase(key);
      co_return;
    }
    if (!room->tip_known()) {
      std::optional<SubjectTip> tip;
      bool read = false;
      try {
        const auto last = co_await store_.last(subject);
        read = true;
        if (last) {
          const auto stored = decode_cluster_message(last->data);
          // Not ours to read: propose as if after it, the store decides anyway.
          const std::uint64_t seq =
              stored ? resolved_seq(*stored, last->stream_seq) : last->stream_seq;
          tip = SubjectTip{last->stream_seq, seq};
        }
      } catch (const std::exception&) {
        read = false;
      }
      room = served(key, id);
      if (!room) co_return;
      if (read) {
        room->learn(tip);
      } else {
        for (auto& say : room->drop_all()) {
          ++stats_.refused;
          hub_.refuse_say(say.session, say.request, "the cluster cannot store messages now");
        }
      }
      continue;
    }
    auto proposal = room->next();
    if (!proposal) co_return;  // unreachable: says wait, none in flight, the tip is known
    enum class Outcome { stored, conflict, failed } outcome = Outcome::failed;
    std::uint64_t stream_seq = 0;
    try {
      stream_seq = co_await store_.publish(subject, encode(proposal->message),
                                           proposal->expect_last_subject_seq);
      outcome = Outcome::stored;
    } catch (const RoomStore::WrongLastSequence&) {
      outcome = Outcome::conflict;
    } catch (const std::exception&) {
      outcome = Outcome::failed;
    }
    room = served(key, id);
    if (!room) co_return;  // refuse_all() answered them meanwhile
    if (outcome == Outcome::stored) {
      conflicts = 0;
      auto [say, seq] = room->stored(stream_seq);
      ++stats_.stored;
      hub_.confirm_say(say.session, say.request, seq);
    } else if (outcome == Outcome::conflict && ++conflicts < kMaxConflicts) {
      ++stats_.conflicts;
      room->conflict();
    } else {
      conflicts = 0;
      const PendingSay say = room->failed();
      ++stats_.refused;
      // Perhaps stored: the client cannot know, and is told so (at least once, 6.8 `unavailable`).
      hub_.refuse_say(say.session, say.request, "the cluster did not confirm the message");
    }
  }
}

void ClusterRooms::on_stored(std::string_view subject, std::string_view data,
                             std::uint64_t stream_seq) {
  const auto key = room_of_subject(prefix_, subject);
  auto message = key ? decode_cluster_message(data) : std::nullopt;
  if (!message) {
    ++stats_.skipped;
    return;
  }
  message->seq = resolved_seq(*message, stream_seq);
  ++stats_.applied;
  if (const auto it = rooms_.find(*key); it != rooms_.end())
    it->second.sequencer.observe(SubjectTip{stream_seq, message->seq});
  hub_.apply_stored(*key, *message, clock_());
}

void ClusterRooms::set_available(bool available, std::string_view why) {
  available_ = available;
  if (!available) refuse_all(why);
}

void ClusterRooms::refuse_all(std::string_view why) {
  // The pumps find their rooms gone and end; a publish already sent may still be stored, and
  // then comes back through on_stored() like any other.
  auto rooms = std::exchange(rooms_, {});
  for (auto& [key, room] : rooms)
    for (auto& say : room.sequencer.drop_all()) {
      ++stats_.refused;
      hub_.refuse_say(say.session, say.request, why);
    }
}

}  // namespace parley::server
