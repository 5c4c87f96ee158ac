// What every session shares: the configuration in force, the identity, the hub, admission
// control, the signing budget, the output queue, the log and the session table. One per server;
// lives as long as the loop.
#pragma once

#include <botan/rng.h>
#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "admission.hpp"
#include "ban_list.hpp"
#include "event_log.hpp"
#include "flush_queue.hpp"
#include "hub.hpp"
#include "hub_log.hpp"
#include "metrics.hpp"
#include "occupancy.hpp"
#include "parley/authorized_keys.hpp"
#include "parley/config.hpp"
#include "parley/server_handshake.hpp"
#include "seq_lease.hpp"
#include "signing_budget.hpp"

namespace parley::server {

class Session;

// Totals since start, for the stats line.
struct Counters {
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t idle_trims = 0;  // idle sessions that gave back their cipher objects and buffers
};

// Wall-clock seconds, for ban expiry (bans outlive restarts, so steady_clock will not do).
UnixSeconds unix_now();

struct ServerContext {
  // `keys`: the authorized_keys the config names (null when it names none).
  ServerContext(boost::asio::any_io_executor executor, config::Config initial,
                std::shared_ptr<const config::AuthorizedKeys> keys, EventLog& event_log,
                ServerIdentity& server_identity, Botan::RandomNumberGenerator& random);

  // Replaces the configuration in force and the authorized keys (SIGHUP). Sessions follow the
  // new limits from their next request or deadline; handshakes started now use the new policy.
  void apply(config::Config next, std::shared_ptr<const config::AuthorizedKeys> keys);
  const config::Config& config() const { return *config_; }
  // Changes on every apply(): sessions compare it to notice a reload.
  std::uint64_t generation() const { return generation_; }
  // The policy handshakes started now use; each handshake keeps its own copy alive.
  std::shared_ptr<const ServerPolicy> policy() const { return policy_; }

  EventLog& log;
  ServerIdentity& identity;
  Botan::RandomNumberGenerator& rng;
  HubLog hub_log;
  SeqLease seq_lease;  // before the hub, which draws on it
  BanFile ban_file;
  BanList bans;  // loaded from ban_file at start, saved on every change
  Hub hub;
  Admission admission;
  Occupancy occupancy;
  SigningBudget signing;
  FlushQueue flushes;
  Counters counters;
  ServerMetrics metrics;
  // Written by the server (a new connection) and by the session (forget()); read by the server.
  std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions;
  // Written by the session (attach, leave); read by the server (stats, status). The seats, which
  // include handshakes past their ServerHello, are counted by `occupancy`.
  std::size_t established = 0;

 private:
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const ServerPolicy> policy_;
  std::uint64_t generation_ = 0;
};

}  // namespace parley::server
