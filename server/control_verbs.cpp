// The admin socket's verbs (parleyctl(8)), as members of Server: each reads or changes the
// server's state on the loop, between two turns of the sessions, and answers with one reply
// line. The socket itself is control_socket; the request's shape, control_protocol.
#include <unistd.h>

#include <algorithm>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>

#include "off_loop_write.hpp"
#include "parley/event.hpp"
#include "server.hpp"
#include "session.hpp"

namespace parley::server {
namespace {

using std::chrono::steady_clock;
namespace asio = boost::asio;

// Holds the ban turn (Server::take_ban_turn) until the change is done, however it ends.
class BanTurn {
 public:
  explicit BanTurn(bool& saving) : saving_(saving) {}
  ~BanTurn() { saving_ = false; }
  BanTurn(const BanTurn&) = delete;
  BanTurn& operator=(const BanTurn&) = delete;

 private:
  bool& saving_;
};

constexpr std::string_view kDefaultKickReason = "kicked by the operator";

std::uint64_t seconds_between(steady_clock::time_point from, steady_clock::time_point to) {
  return to > from ? static_cast<std::uint64_t>(
                         std::chrono::duration_cast<std::chrono::seconds>(to - from).count())
                   : 0;
}

// The address in "ADDRESS:PORT" or "[ADDRESS]:PORT" (endpoint_text's forms).
std::string_view address_of(std::string_view peer) {
  if (peer.starts_with('[')) return peer.substr(1, peer.find(']') - 1);
  return peer.substr(0, peer.rfind(':'));
}

nlohmann::ordered_json ban_json(const Ban& ban) {
  return {{"kind", name_of(ban.kind)},
          {"target", ban.target},
          {"expires", ban.expires ? nlohmann::ordered_json(*ban.expires) : nullptr}};
}

std::string failed(std::string_view code, std::string message) {
  return control_reply_error({code, std::move(message)});
}

}  // namespace

asio::awaitable<ControlSocket::Reply> Server::on_control(ControlRequest request) {
  try {
    switch (request.verb) {
      case ControlVerb::status:
        co_return ControlSocket::Reply{control_reply_ok(control_status()), nullptr};
      case ControlVerb::sessions:
        co_return ControlSocket::Reply{control_reply_ok(control_sessions()), nullptr};
      case ControlVerb::kick:
        co_return ControlSocket::Reply{control_kick(request), nullptr};
      case ControlVerb::ban: {
        // Named before co_return: no temporaries around a co_await (g++ 12).
        auto ban = control_ban(std::move(request));
        std::string line = co_await std::move(ban);
        co_return ControlSocket::Reply{std::move(line), nullptr};
      }
      case ControlVerb::unban: {
        auto unban = control_unban(std::move(request));
        std::string line = co_await std::move(unban);
        co_return ControlSocket::Reply{std::move(line), nullptr};
      }
      case ControlVerb::bans:
        co_return ControlSocket::Reply{control_bans(), nullptr};
      case ControlVerb::notice:
        co_return ControlSocket::Reply{control_notice(request), nullptr};
      case ControlVerb::drain:
        co_return control_drain();
    }
  } catch (const std::exception& e) {
    ctx_.log.internal_error(std::nullopt, e.what());
    co_return ControlSocket::Reply{failed(control_code::kFailed, e.what()), nullptr};
  }
  co_return ControlSocket::Reply{failed(control_code::kBadRequest, "unknown verb"), nullptr};
}

asio::awaitable<void> Server::take_ban_turn() {
  // Bounded: a write that hangs past this is reported, and the operator may try again.
  asio::steady_timer turn(io_);
  for (int waited = 0; saving_bans_; ++waited) {
    if (waited == 400) throw std::runtime_error("bans " + ctx_.ban_file.path() + ": still busy");
    turn.expires_after(std::chrono::milliseconds(5));
    co_await turn.async_wait(asio::use_awaitable);
  }
  saving_bans_ = true;
}

asio::awaitable<void> Server::save_bans(BanList next) {
  // Saved before it is in force, so a ban the file cannot keep is refused, not forgotten at the
  // next restart; written off the loop (a file sync can take long).
  auto write = replace_file_off_loop(ctx_.ban_file.path(), next.to_json());
  const int error = co_await std::move(write);
  if (error) throw std::runtime_error("bans " + ctx_.ban_file.path() + ": " + std::strerror(error));
  ctx_.bans = std::move(next);
}

nlohmann::ordered_json Server::control_status() const {
  const HubStats hub = ctx_.hub.stats();
  nlohmann::ordered_json listening = nlohmann::ordered_json::array();
  for (const auto& l : listeners_) {
    boost::system::error_code ec;
    const auto bound = l->acceptor.local_endpoint(ec);
    if (!ec)
      listening.push_back({{"address", bound.address().to_string()}, {"port", bound.port()}});
  }
  return {{"pid", ::getpid()},
          {"uptime_s", seconds_between(started_, steady_clock::now())},
          {"state", shutting_down_ ? "draining" : "running"},
          {"fingerprint", ctx_.identity.fingerprint()},
          {"listening", listening},
          {"sessions", ctx_.established},
          {"handshakes", ctx_.admission.pending()},
          {"rooms", hub.rooms},
          {"messages_relayed", hub.messages_relayed},
          {"bytes_in", ctx_.counters.bytes_in},
          {"bytes_out", ctx_.counters.bytes_out},
          {"bans", bans_in_force().size()},
          {"last_reload_failed", last_reload_failed_}};
}

nlohmann::ordered_json Server::control_sessions() const {
  const auto now = steady_clock::now();
  std::vector<std::uint64_t> ids;
  for (const auto& [id, session] : ctx_.sessions)
    ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto id : ids) {
    const Session& session = *ctx_.sessions.at(id);
    const auto snap = session.snapshot();
    if (!snap) continue;  // handshakes and closing sessions are counted by `status`
    nlohmann::ordered_json s{{"id", id},
                             {"nick", ctx_.hub.nick_of(id).value_or("")},
                             {"peer", session.peer()},
                             {"suite", snap->suite},
                             {"rooms", ctx_.hub.rooms_of(id)},
                             {"bytes_in", snap->bytes_in},
                             {"bytes_out", snap->bytes_out},
                             {"age_s", seconds_between(snap->started, now)},
                             {"idle_s", seconds_between(snap->last_heard, now)}};
    if (!snap->fingerprint.empty()) s["fingerprint"] = snap->fingerprint;
    list.push_back(std::move(s));
  }
  return {{"sessions", list}};
}

std::string Server::control_kick(const ControlRequest& request) {
  const auto id = ctx_.hub.holder_of(request.nick);
  const auto it = id ? ctx_.sessions.find(*id) : ctx_.sessions.end();
  if (it == ctx_.sessions.end()) return failed(control_code::kNotFound, "no session has that nick");
  const std::string nick = ctx_.hub.nick_of(*id).value_or("");
  const std::string reason = request.reason.value_or(std::string(kDefaultKickReason));
  ctx_.log.kick(*id, nick, request.reason ? request.reason->size() : 0);
  it->second->end_session(StatusCode::kicked, reason);
  return control_reply_ok({{"session", *id}, {"nick", nick}});
}

asio::awaitable<std::string> Server::control_ban(ControlRequest request) {
  auto parsed = parse_ban_target(request.target);
  if (auto* error = std::get_if<std::string>(&parsed))
    co_return failed(control_code::kBadRequest, *error);
  Ban ban = std::get<Ban>(std::move(parsed));
  std::optional<std::uint64_t> seconds;
  if (request.duration) {
    seconds = parse_duration(*request.duration);
    if (!seconds)
      co_return failed(
          control_code::kBadRequest,
          "not a duration: a positive number with s, m, h, d or w (at most ten years)");
  }
  co_await take_ban_turn();
  const BanTurn turn(saving_bans_);
  const UnixSeconds now = unix_now();
  if (seconds) ban.expires = now + static_cast<UnixSeconds>(*seconds);
  BanList next = ctx_.bans;  // what is in force now that it is our turn
  next.drop_expired(now);
  next.add(ban);
  auto save = save_bans(std::move(next));
  co_await std::move(save);
  const std::size_t ended = end_banned_sessions(ban);
  ctx_.log.ban(name_of(ban.kind), ban.target, ban.expires, ended);
  auto reply = ban_json(ban);
  reply["sessions_ended"] = ended;
  co_return control_reply_ok(reply);
}

std::size_t Server::end_banned_sessions(const Ban& ban) {
  std::vector<std::shared_ptr<Session>> covered;
  for (const auto& [id, session] : ctx_.sessions) {
    bool match = false;
    if (ban.kind == Ban::Kind::address) {
      const auto peer = parse_ban_target(address_of(session->peer()));
      const auto* address = std::get_if<Ban>(&peer);
      match = address && address->target == ban.target;
    } else {
      const auto snap = session->snapshot();
      match = snap && snap->fingerprint == ban.target;
    }
    if (match) covered.push_back(session);
  }
  for (auto& session : covered)
    session->end_session(StatusCode::kicked, "banned by the operator");
  return covered.size();
}

asio::awaitable<std::string> Server::control_unban(ControlRequest request) {
  auto parsed = parse_ban_target(request.target);
  if (auto* error = std::get_if<std::string>(&parsed))
    co_return failed(control_code::kBadRequest, *error);
  const Ban ban = std::get<Ban>(std::move(parsed));
  co_await take_ban_turn();
  const BanTurn turn(saving_bans_);
  BanList next = ctx_.bans;
  if (!next.remove(ban.target)) co_return failed(control_code::kNotFound, "no such ban");
  next.drop_expired(unix_now());
  auto save = save_bans(std::move(next));
  co_await std::move(save);
  ctx_.log.unban(name_of(ban.kind), ban.target);
  co_return control_reply_ok({{"kind", name_of(ban.kind)}, {"target", ban.target}});
}

std::string Server::control_bans() const {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& ban : bans_in_force())
    list.push_back(ban_json(ban));
  return control_reply_ok({{"bans", list}});
}

std::vector<Ban> Server::bans_in_force() const {
  const UnixSeconds now = unix_now();
  std::vector<Ban> bans = ctx_.bans.all();
  std::erase_if(bans, [now](const Ban& ban) { return ban.expires && *ban.expires <= now; });
  return bans;
}

std::string Server::control_notice(const ControlRequest& request) {
  if (auto why = check_operator_text(request.text, ctx_.config().limits.max_message_bytes))
    return failed(control_code::kBadRequest, *why);
  const std::string json = evt::serialize(evt::Notice{request.text, request.room});
  const auto reached = ctx_.hub.broadcast(json, request.room);
  if (!reached) return failed(control_code::kNotFound, "no such room");
  ctx_.log.notice(request.room.value_or(""), request.text.size(), *reached);
  return control_reply_ok({{"recipients", *reached}});
}

ControlSocket::Reply Server::control_drain() {
  if (shutting_down_) return {failed(control_code::kFailed, "already stopping"), nullptr};
  const std::size_t sessions = ctx_.sessions.size();
  ctx_.log.drain(sessions);
  // After the reply is written: the drain closes the admin socket too.
  return {control_reply_ok({{"sessions", sessions}}), [this, sessions] {
            if (!shutting_down_)
              begin_shutdown("draining (parleyctl drain), closing " + std::to_string(sessions) +
                             " sessions");
          }};
}

}  // namespace parley::server
