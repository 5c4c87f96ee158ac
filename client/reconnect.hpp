// When and how a client comes back after losing its session (issue 18; PROTOCOL.md 6.7-6.9).
// Pure code: the caller passes times and random numbers in.
//
//   - Whether to come back at all: never after close 8 (auth_failed), 10 (policy), 11
//     (replaced) or 12 (kicked); the server meant those.
//   - When: a goaway names the earliest moment; otherwise exponential backoff from 1 s to 30 s,
//     each wait drawn between half and all of its step (jitter), so that a server's clients do
//     not all come back in the same second; give up once `give_up_after` has passed.
//   - What to say again: the nick (with takeover when the session has an identity key: the old
//     session may be a ghost still holding it), the rooms, and for each room the messages after
//     the last seq seen (history).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/request.hpp"
#include "parley/status.hpp"

namespace parley::client {

// Close codes after which a client does not come back by itself (PROTOCOL.md 6.8).
bool may_reconnect_after(StatusCode code);

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFirst{1000};
  static constexpr std::chrono::milliseconds kLongest{30000};

  Backoff(Clock::time_point lost_at, std::chrono::milliseconds give_up_after)
      : lost_at_(lost_at), give_up_after_(give_up_after) {}

  // The server said when to come back (goaway's reconnect_after_ms): the first wait is that,
  // plus up to a tenth more of our own.
  void server_asked(std::chrono::milliseconds after) { asked_ = after; }

  // How long to wait before the next attempt; nullopt once the time to give up has come.
  // `unit` is a random number in [0, 1).
  std::optional<std::chrono::milliseconds> next(Clock::time_point now, double unit);

  std::chrono::milliseconds waited(Clock::time_point now) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - lost_at_);
  }
  int attempts() const { return attempts_; }

 private:
  Clock::time_point lost_at_;
  std::chrono::milliseconds give_up_after_;
  std::optional<std::chrono::milliseconds> asked_;
  int attempts_ = 0;
};

// The last seq seen per room: a message at or below it is one already shown (a replay that
// overlaps, or a duplicate), and the next history request starts after it.
class RoomCursor {
 public:
  // True when this message is new for its room (and remembers its seq).
  bool advance(std::string_view room, std::uint64_t seq);
  std::optional<std::uint64_t> last(std::string_view room) const;
  void forget(std::string_view room);

 private:
  std::map<std::string, std::uint64_t> last_;  // folded room -> seq
};

struct ResumeState {
  std::string nick;                // the nick the session had
  bool has_identity = false;       // authenticated with a key: may take the nick back
  std::vector<std::string> rooms;  // as joined
};

// The requests that put a new session where the old one was: nick (with takeover when it
// may), then each room's join followed by its history since the last seq seen (all of the
// stored history when none was seen). Ids are the caller's.
std::vector<req::Body> resume_requests(const ResumeState& state, const RoomCursor& cursor,
                                       bool server_has_history);

// An anonymous client's nick after a reconnect (PROTOCOL.md 6.9: it cannot take it over): while
// the old session (a ghost, until the server times it out) still holds it, a variant ("alice_");
// when the holder quits or changes nick, the nick again.
class NickReclaim {
 public:
  explicit NickReclaim(std::string wanted) : wanted_(std::move(wanted)) {}
  const std::string& wanted() const { return wanted_; }
  // What to be meanwhile: the nick with "_" (cut to the length limit).
  std::string variant() const;
  // A request for `asked` was refused as taken while this session is `current`: the variant to
  // ask for now, or nullopt (not the wanted nick, or the variant is what we have).
  std::optional<std::string> on_taken(std::string_view asked, std::string_view current) const;
  // `nick` left (quit, or became another nick) while this session is `current`: the wanted nick
  // to ask for again, or nullopt.
  std::optional<std::string> on_gone(std::string_view nick, std::string_view current) const;

 private:
  std::string wanted_;
};

}  // namespace parley::client
