// What every session shares: the configuration in force, the identity, the
// hub, admission control, the log. One per server; lives as long as the loop.
#pragma once

#include <botan/rng.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include "admission.hpp"
#include "event_log.hpp"
#include "flush_queue.hpp"
#include "hub.hpp"
#include "parley/authorized_keys.hpp"
#include "parley/config.hpp"
#include "parley/server_handshake.hpp"
#include "parley/token_bucket.hpp"

namespace parley::server {

class Session;

// Bounds the RSA signatures done per turn of the event loop: a reconnect storm
// then costs established sessions at most that many signatures of latency
// before their reads and writes get a turn.
class SigningBudget {
 public:
  SigningBudget(boost::asio::any_io_executor executor, std::size_t per_turn)
      : executor_(std::move(executor)), per_turn_(per_turn) {}
  void set_per_turn(std::size_t per_turn) { per_turn_ = per_turn; }

  boost::asio::awaitable<void> acquire() {
    while (used_ >= per_turn_) {
      co_await boost::asio::post(executor_, boost::asio::use_awaitable);
    }
    // The first signature of a turn schedules the reset behind everything
    // already queued, which is what "next turn" means for a single thread.
    if (used_++ == 0) boost::asio::post(executor_, [this] { used_ = 0; });
  }

 private:
  boost::asio::any_io_executor executor_;
  std::size_t per_turn_;
  std::size_t used_ = 0;
};

// Writes the hub's membership changes to the event log.
class HubLog final : public HubObserver {
 public:
  explicit HubLog(EventLog& log) : log_(log) {}
  void on_nick(SessionId id, std::string_view old_nick, std::string_view new_nick) override {
    log_.nick(id, old_nick, new_nick);
  }
  void on_join(SessionId id, std::string_view nick, std::string_view room) override {
    log_.join(id, nick, room);
  }
  void on_part(SessionId id, std::string_view nick, std::string_view room) override {
    log_.part(id, nick, room);
  }

 private:
  EventLog& log_;
};

struct Counters {
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

struct ServerContext {
  ServerContext(boost::asio::any_io_executor executor, config::Config initial, EventLog& event_log,
                ServerIdentity& server_identity, Botan::RandomNumberGenerator& random);

  // Replaces the configuration in force (and the authorized keys, null when
  // there is no file); sessions pick up limits on their next request.
  void apply(config::Config next, std::shared_ptr<const config::AuthorizedKeys> keys);
  const config::Config& config() const { return *config_; }
  std::uint64_t generation() const { return generation_; }
  // The policy handshakes started now use; each handshake keeps its own copy alive.
  std::shared_ptr<const ServerPolicy> policy() const { return policy_; }

  boost::asio::any_io_executor executor;
  EventLog& log;
  ServerIdentity& identity;
  Botan::RandomNumberGenerator& rng;
  HubLog hub_log;
  Hub hub;
  Admission admission;
  SigningBudget signing;
  FlushQueue flushes;
  Counters counters;
  std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions;
  std::size_t established = 0;
  std::uint64_t next_session_id = 0;
  bool shutting_down = false;
  // From the authorized_keys file, if the config names one (open mode may too: owned nicks).
  std::shared_ptr<const config::AuthorizedKeys> authorized_keys;

 private:
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const ServerPolicy> policy_;
  std::uint64_t generation_ = 0;
};

}  // namespace parley::server
