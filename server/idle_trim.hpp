// When an idle session gives back memory it can rebuild later: keyed cipher objects (kilobytes
// each; re-deriving one costs tens of microseconds) and buffers. The input side goes once the
// client has been silent for `after`; the output side once, in addition, nothing was sealed for
// the session since its last request was handled (or since the previous look) and nothing is
// left unsent: a member of a busy room keeps its sealer. Pure: the time and the session's counts
// are passed in.
#pragma once

#include <chrono>
#include <cstdint>

namespace parley::server {

class IdleTrim {
 public:
  using Clock = std::chrono::steady_clock;

  IdleTrim(Clock::duration after, Clock::time_point now, std::uint64_t sealed)
      : after_(after), next_(now + after), sealed_at_last_look_(sealed) {}

  // A record from the client, handled; `sealed`: records sealed for the session so far (its
  // replies included).
  void heard(Clock::time_point now, std::uint64_t sealed) {
    next_ = now + after_;
    sealed_at_last_look_ = sealed;
  }

  // The output side was keyed again after its release (a delivery to a session that does not
  // speak: a member of a room others join): it is looked at again from now.
  void rekeyed(Clock::time_point now, std::uint64_t sealed) {
    if (next_ != Clock::time_point::max()) return;
    next_ = now + after_;
    sealed_at_last_look_ = sealed;
  }

  // When on_deadline() has something to do; time_point::max() when everything is released.
  Clock::time_point deadline() const { return next_; }

  struct Release {
    bool input = false;   // the opener's cipher and the read buffer
    bool output = false;  // the sealer's cipher and the outbox buffer
  };
  // `sealed`: records sealed for the session so far; `output_idle`: nothing unsent;
  // `output_keyed`: the sealer still holds its cipher.
  Release on_deadline(Clock::time_point now, std::uint64_t sealed, bool output_idle,
                      bool output_keyed) {
    if (now < next_) return {};
    Release release{true, output_keyed && output_idle && sealed == sealed_at_last_look_};
    sealed_at_last_look_ = sealed;
    const bool keyed_after = output_keyed && !release.output;
    next_ = keyed_after ? now + after_ : Clock::time_point::max();
    return release;
  }

 private:
  Clock::duration after_;
  Clock::time_point next_;
  std::uint64_t sealed_at_last_look_;
};

}  // namespace parley::server
