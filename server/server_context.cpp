#include "server_context.hpp"

#include <botan/system_rng.h>

#include <chrono>

namespace parley::server {
namespace {

AdmissionLimits admission_limits(const config::Limits& l) {
  AdmissionLimits a;
  a.per_source_rate = static_cast<double>(l.handshakes_per_source_per_s);
  a.per_source_burst = static_cast<double>(l.handshake_burst_per_source);
  a.max_pending = l.max_pending_handshakes;
  a.max_pending_per_source = l.max_pending_per_source;
  return a;
}

OccupancyLimits occupancy_limits(const config::Limits& l) {
  return {l.max_clients, l.max_sessions_per_source};
}

std::uint16_t guest_suffix(Botan::RandomNumberGenerator& rng) {
  std::uint8_t b[2];
  rng.randomize(b, sizeof b);
  return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

}  // namespace

UnixSeconds unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ServerContext::ServerContext(boost::asio::any_io_executor exec, config::Config initial,
                             std::shared_ptr<const config::AuthorizedKeys> keys,
                             EventLog& event_log, ServerIdentity& server_identity,
                             Botan::RandomNumberGenerator& random)
    : log(event_log),
      identity(server_identity),
      rng(random),
      hub_log(event_log),
      seq_lease(SeqLease::path_beside(initial.identity_key)),
      ban_file(BanFile::path_beside(initial.identity_key)),
      bans(ban_file.load(unix_now())),
      hub([&random] { return guest_suffix(random); }),
      admission(admission_limits(initial.limits)),
      occupancy(occupancy_limits(initial.limits)),
      signing(exec, initial.limits.signatures_per_turn),
      flushes(exec) {
  hub.set_observer(&hub_log);
  hub.set_seq_lease(seq_lease.base(), seq_lease.limit(), [this] { return seq_lease.extend(); });
  apply(std::move(initial), std::move(keys));
}

void ServerContext::apply(config::Config next, std::shared_ptr<const config::AuthorizedKeys> keys) {
  config_ = std::make_shared<const config::Config>(std::move(next));
  const auto& c = *config_;

  auto policy = std::make_shared<ServerPolicy>();
  policy->suites = c.suites;
  policy->min_client_rsa_bits = c.limits.min_client_rsa_bits;
  policy->has_room = [this] { return occupancy.has_room(); };
  policy->banned = [this](std::string_view fingerprint) {
    return bans.fingerprint_banned(fingerprint, unix_now());
  };
  if (c.auth.mode == config::AuthMode::keys) {
    // The handshake keeps the policy alive, and the policy keeps these keys alive.
    policy->authorize = [keys](std::string_view fingerprint) {
      return keys && keys->contains(fingerprint);
    };
  }
  policy_ = std::move(policy);

  std::map<std::string, std::string> owned;
  if (keys) {
    for (const auto& k : keys->keys)
      if (k.nick) owned.emplace(k.fingerprint, *k.nick);
  }
  hub.set_reserved_nicks(std::move(owned));
  hub.set_limits({c.limits.max_rooms, c.limits.max_rooms_per_session});
  hub.set_history_limits(
      {static_cast<std::size_t>(c.history.messages), std::chrono::seconds(c.history.max_age_s),
       static_cast<std::size_t>(c.history.max_bytes)},
      std::chrono::system_clock::now());
  admission.reconfigure(admission_limits(c.limits));
  occupancy.reconfigure(occupancy_limits(c.limits));
  signing.set_per_turn(c.limits.signatures_per_turn);
  ++generation_;
}

}  // namespace parley::server
