#include "session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "parley/event.hpp"
#include "parley/hello.hpp"
#include "parley/request.hpp"
#include "server_context.hpp"

namespace parley::server {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// The handshake_failed reason of a client that left without a word after the ServerHello.
constexpr std::string_view kClosedAfterServerHello =
    "client closed after the ServerHello (did it refuse the server's key?)";
// How long a closing session may take to flush its last records.
constexpr std::chrono::seconds kLinger{5};
// After its close record, how long and how much a session reads (and drops) while the peer
// closes its side.
constexpr std::chrono::seconds kDrainTime{1};
constexpr std::size_t kDrainBytes = 256 * 1024;
// Records handled from one read before other sessions get a turn. Several per turn let a
// publisher's burst reach each recipient's outbox together, and leave in one write.
constexpr unsigned kRecordsPerTurn = 32;
// After this long without a record from the client, an idle session gives back what it can
// rebuild (IdleTrim).
constexpr std::chrono::seconds kTrimAfter{2};

std::string session_label(std::uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, id);
  return buf;
}

std::uint64_t ms_between(steady_clock::time_point from, steady_clock::time_point to) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count());
}

// The modulus size a ClientHello's transport key claims, from the length of its DER (strict: the
// handshake refuses a key whose DER is not minimal), without parsing the key; 0 when the hello
// does not parse (the handshake refuses it).
std::size_t claimed_key_bits(ByteView client_hello) {
  const auto parsed = parse_client_hello(client_hello);
  const auto* hello = std::get_if<ClientHello>(&parsed);
  if (hello == nullptr) return 0;
  constexpr std::size_t kSpkiOverhead = 38;  // SPKI of a 2048-bit key with e = 65537: 294 bytes
  const std::size_t size = hello->transport_key.size();
  return size > kSpkiOverhead ? (size - kSpkiOverhead) * 8 : 0;
}

// The RSA work of a client finished of this size: none without an identity; with one, a key
// and a signature of about a quarter of the record's size in bits each.
std::size_t finished_identity_units(std::size_t finished_size) {
  constexpr std::size_t kAnonymousFinishedMax = 200;  // th, empty fields, type and tag: ~60 bytes
  constexpr std::size_t kFinishedOverhead = 100;
  if (finished_size <= kAnonymousFinishedMax) return 0;
  return rsa_work_units((finished_size - kFinishedOverhead) * 4);
}

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

Session::Session(ServerContext& ctx, std::unique_ptr<Transport> transport, AdmissionSlot admission,
                 std::uint64_t id, std::string peer, std::string source)
    : ctx_(ctx),
      transport_(std::move(transport)),
      admission_(std::move(admission)),
      id_(id),
      peer_(std::move(peer)),
      source_(std::move(source)),
      started_(steady_clock::now()),
      read_deadline_(transport_->get_executor()),
      write_deadline_(transport_->get_executor()),
      output_drained_(transport_->get_executor()),
      decoder_(kHandshakeMaxFrame) {}

Session::~Session() = default;

awaitable<void> Session::run(std::shared_ptr<Session> self) {
  Session& s = *self;
  s.read_deadline_.set_owner(self);
  s.write_deadline_.set_owner(self);
  s.ctx_.log.session_open(s.id_, s.peer_);
  try {
    if (auto keys = co_await s.handshake()) {
      s.attach(std::move(*keys));
      co_await s.serve();
      co_await s.close(*s.ending_);
    }
  } catch (const std::exception& e) {
    s.ctx_.log.internal_error(s.id_, e.what());
    if (s.phase_ == Phase::handshake) s.ctx_.metrics.handshakes.add({"internal", "none"});
    s.end(Ending::lost("internal error"));
    s.leave(*s.ending_);
  }
  s.forget();
}

// ---- the handshake -------------------------------------------------------------------------

awaitable<std::unique_ptr<Established>> Session::handshake() {
  // Given back when the handshake ends, however it ends.
  const AdmissionSlot slot = std::move(admission_);
  const auto& limits = ctx_.config().limits;
  const auto deadline = started_ + std::chrono::milliseconds(limits.handshake_timeout_ms);
  // A short deadline of its own for the ClientHello: a trickle cannot hold a slot for long.
  const auto hello_deadline =
      std::min(deadline, started_ + std::chrono::milliseconds(limits.hello_timeout_ms));
  // The policy in force when the connection arrived; a reload does not change it mid-handshake.
  const std::shared_ptr<const ServerPolicy> policy = ctx_.policy();
  ServerHandshake hs(ctx_.identity, *policy, ctx_.rng);
  auto source_full = [this] { return !ctx_.occupancy.source_has_room(source_); };
  constexpr std::string_view kSourceFull = "too many sessions from this address";

  // TLS first, on a TLS listener: within the ClientHello's deadline, which then also covers the
  // TLS handshake (a trickled TLS ClientHello cannot hold a slot any longer than a Parley one).
  if (transport_->has_handshake() && !co_await transport_handshake(hello_deadline))
    co_return nullptr;

  ByteView frame;
  if (!co_await handshake_frame(hello_deadline, frame, false, "no ClientHello in time"))
    co_return nullptr;
  ctx_.admission.hello_received(id_);
  // A large key costs in proportion (rsa_work_units), from its source's rate and from the
  // turn's budget. A hello that does not even parse costs neither: precheck refuses it at once.
  const std::size_t bits = claimed_key_bits(frame);
  const std::size_t units = bits == 0 ? 0 : rsa_work_units(bits);
  if (!ctx_.admission.charge(id_, units, steady_clock::now())) {
    ctx_.metrics.admission_refusals.add({refusal::kSourceRate});
    co_await refuse(StatusCode::server_full, "busy, retry later (handshake rate from this source)",
                    deadline);
    co_return nullptr;
  }
  if (source_full()) {  // before queueing for the budget
    ctx_.metrics.admission_refusals.add({refusal::kSourceSessions});
    co_await refuse(StatusCode::server_full, kSourceFull, deadline);
    co_return nullptr;
  }
  if (units > 0) co_await ctx_.signing.acquire(units);
  if (ending_) {
    handshake_failed("none", ending_->reason);
    co_return nullptr;
  }
  // From here to the seat, one turn: parsing the key (part of the cost the budget counts), the
  // room checks (this one, and on_frame's "server full") and the seat they allow cannot be split
  // by another handshake.
  if (const auto failure = hs.precheck(frame)) {
    if (failure->code == StatusCode::server_full)  // max_clients, not the hello's fault
      ctx_.metrics.admission_refusals.add({refusal::kServerFull});
    co_await refuse(failure->code, failure->reason, deadline);
    co_return nullptr;
  }
  if (source_full()) {
    ctx_.metrics.admission_refusals.add({refusal::kSourceSessions});
    co_await refuse(StatusCode::server_full, kSourceFull, deadline);
    co_return nullptr;
  }
  HandshakeStep step = hs.on_frame(frame);
  if (!step.failure) seat_ = ctx_.occupancy.take(source_);  // the ServerHello goes out
  if (!step.send.empty() && !co_await write_all(step.send, deadline)) {
    handshake_failed(name_of(StatusCode::bad_message), "connection closed");
    co_return nullptr;
  }
  if (step.failure) {
    if (step.failure->code == StatusCode::server_full)  // as after precheck
      ctx_.metrics.admission_refusals.add({refusal::kServerFull});
    handshake_failed(name_of(step.failure->code), step.failure->reason);
    co_return nullptr;
  }

  if (!co_await handshake_frame(deadline, frame, true, "handshake timeout")) co_return nullptr;
  // A client identity is a key to parse and a signature to check: from the turn's budget too.
  if (const std::size_t identity_units = finished_identity_units(frame.size())) {
    co_await ctx_.signing.acquire(identity_units);
    if (ending_) {
      handshake_failed("none", ending_->reason);
      co_return nullptr;
    }
  }
  step = hs.on_frame(frame);
  if (!step.send.empty()) co_await write_all(step.send, deadline);
  if (step.failure) {
    if (step.failure->code == StatusCode::auth_failed) {
      ctx_.metrics.handshakes.add({name_of(StatusCode::auth_failed), "none"});
      if (step.failure->reason == kBannedKeyReason) {
        ctx_.metrics.admission_refusals.add({refusal::kBanned});
        ctx_.log.ban_refused(id_, peer_, hs.presented_fingerprint());
      } else {
        ctx_.log.auth_failed(id_, peer_, hs.presented_fingerprint(), step.failure->reason);
      }
    } else {
      handshake_failed(name_of(step.failure->code), step.failure->reason);
    }
    co_return nullptr;
  }
  const auto took = steady_clock::now() - started_;
  const std::string_view suite = step.established->sealer.suite().name;
  ctx_.metrics.handshakes.add({"ok", suite});
  ctx_.metrics.handshake_seconds.observe(std::chrono::duration<double>(took).count());
  ctx_.log.handshake_ok(id_, peer_, suite, step.established->client_fingerprint,
                        static_cast<std::uint64_t>(
                            std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
                        transport_->tls_summary());
  co_return std::make_unique<Established>(std::move(*step.established));
}

awaitable<bool> Session::handshake_frame(steady_clock::time_point deadline, ByteView& frame,
                                         bool server_hello_sent, std::string_view timeout_reason) {
  const Read read = co_await read_frame(deadline, frame);
  switch (read) {
    case Read::frame:
      co_return true;
    case Read::timeout:
      // After the ServerHello no Error frame is sent: a timeout just closes.
      if (!server_hello_sent) {
        co_await refuse(StatusCode::timeout, timeout_reason, deadline);
        co_return false;
      }
      handshake_failed(name_of(StatusCode::timeout), timeout_reason);
      co_return false;
    case Read::closed:
      // Not a byte after the ServerHello: what a client does when it does not trust the key
      // it was shown (unknown, or changed since its known_hosts entry). Said apart, so an
      // operator can watch for clients that are shown some other key on their way here.
      if (server_hello_sent && counters_.records_in == 1 && decoder_.buffered() == 0) {
        handshake_failed("none", kClosedAfterServerHello);
        co_return false;
      }
      handshake_failed(name_of(StatusCode::bad_message), decoder_.error() != FrameError::none
                                                             ? "bad frame length"
                                                             : "connection closed");
      co_return false;
    case Read::ended:
      // Evicted before its ClientHello: told why, as an admission refusal would be.
      if (!server_hello_sent && ending_->code == StatusCode::server_full) {
        co_await refuse(StatusCode::server_full, ending_->reason, deadline);
        co_return false;
      }
      handshake_failed("none", ending_->reason);
      co_return false;
  }
  co_return false;
}

void Session::handshake_failed(std::string_view code, std::string_view reason) {
  // The codes are the server's own names (name_of, "none", "tls"): a bounded set of series.
  ctx_.metrics.handshakes.add({code, "none"});
  ctx_.log.handshake_failed(id_, peer_, code, reason);
}

awaitable<void> Session::refuse(StatusCode code, std::string_view reason,
                                steady_clock::time_point deadline) {
  handshake_failed(name_of(code), reason);
  // Named, not a temporary inside the co_await: g++ 12 destroys such
  // temporaries twice (the PR100611 family, caught by ASan here).
  const Bytes frame = encode_frame(encode(ErrorFrame{code, std::string(reason)}));
  co_await write_all(frame, deadline);
}

// ---- the established session ---------------------------------------------------------------

void Session::attach(Established keys) {
  const auto& limits = ctx_.config().limits;
  const auto now = steady_clock::now();
  decoder_.set_max_frame(limits.max_frame);
  transport_->limit_send_buffer(limits.send_buffer_bytes);
  // A record's body is the event plus what sealing adds (type byte, tag): max_frame bounds it.
  const std::size_t overhead = keys.sealer.frame_size(0) - kFrameHeaderSize;
  live_.emplace(
      Live{Outbox(limits.outbox_bytes), std::move(keys),
           Liveness(std::chrono::seconds(limits.idle_interval_s),
                    std::chrono::seconds(limits.idle_timeout_s), now),
           IdleTrim(kTrimAfter, now, counters_.records_out),
           RateGuard(limits.rate, static_cast<double>(limits.burst), limits.flood_strikes, now),
           ctx_.generation(), limits.max_message_bytes, limits.max_frame - overhead, 0, nullptr});
  phase_ = Phase::established;
  ++ctx_.established;
  const std::string nick = ctx_.hub.attach(id_, *this, live_->keys.client_fingerprint);
  deliver(evt::serialize(
      evt::Welcome{session_label(id_),
                   nick,
                   "parleyd",
                   limits.max_frame,
                   limits.max_message_bytes,
                   std::string(live_->keys.sealer.suite().name),
                   limits.rate,
                   limits.burst,
                   {"seq_ack", "action", "history", "paging", "notice", "goaway", "takeover"}}));
}

awaitable<void> Session::serve() {
  for (;;) {
    // One clock reading per batch: its records arrived together.
    const bool more = handle_records(steady_clock::now());
    if (ending_) co_return;
    if (live_->deferred_page) {
      co_await wait_page_written();
      if (ending_) co_return;
      const auto request = std::move(live_->deferred_page);
      answer(*request);
      continue;  // then what is still buffered
    }
    if (more) {
      // A bounded batch per turn: a long burst already in our buffer must not fill other
      // sessions' outboxes before the FlushQueue has had a turn to write them.
      co_await asio::post(transport_->get_executor(), asio::use_awaitable);
      continue;
    }
    const auto& live = *live_;
    switch (co_await wait_input(std::min(live.liveness.deadline(), live.trim.deadline()))) {
      case Wait::input:
      case Wait::ended:
        break;
      case Wait::deadline:
        on_idle_deadline(steady_clock::now());
        break;
      case Wait::closed:
        end(Ending::lost("connection lost"));
        break;
    }
  }
}

bool Session::handle_records(steady_clock::time_point now) {
  for (unsigned handled = 0; handled < kRecordsPerTurn; ++handled) {
    if (ending_ || live_->deferred_page) return false;
    const auto frame = decoder_.next();
    if (!frame) {
      if (decoder_.error() != FrameError::none)
        end(Ending::lost(decoder_.error() == FrameError::too_long ? "frame too long"
                                                                  : "bad frame length"));
      return false;
    }
    ++counters_.records_in;
    live_->liveness.heard(now);
    auto opened = live_->keys.opener.open(*frame);
    if (const auto* error = std::get_if<RecordError>(&opened)) {
      // Nothing more is read or sent after a bad record (PROTOCOL.md 3.2a).
      end(Ending::lost(std::string(describe(*error))));
      return false;
    }
    const auto& record = std::get<OpenedRecord>(opened);
    on_record(record.type, record.data, now);
    // After the record: what it made the server seal (replies) does not keep the sealer busy.
    live_->trim.heard(now, counters_.records_out);
  }
  return true;
}

void Session::on_record(ContentType type, ByteView data, steady_clock::time_point now) {
  switch (type) {
    case ContentType::app:
      on_app(as_chars(data), now);
      return;
    case ContentType::close:
      end(Ending::by_peer(parse_close(data)));
      return;
    case ContentType::key_update:
      // The opener has already moved to the new keys. A key update costs the server a key
      // derivation: it counts against the rate like a request, without a reply.
      take_rate(now, std::nullopt);
      return;
    case ContentType::finished:  // refused by the opener after record #0
      return;
  }
}

void Session::on_app(std::string_view json, steady_clock::time_point now) {
  follow_reload(now);
  auto parsed = req::parse(json, req::Limits{live_->max_message_bytes});
  const RequestId rid = std::holds_alternative<req::Request>(parsed)
                            ? std::get<req::Request>(parsed).id
                            : std::get<req::Rejection>(parsed).id;
  if (!take_rate(now, rid)) return;
  if (const auto* rejection = std::get_if<req::Rejection>(&parsed)) {
    ctx_.hub.reject(id_, *rejection);
    return;
  }
  auto& request = std::get<req::Request>(parsed);
  if (replies_with_a_page(request) && live_->outbox.sent_total() < live_->page_end) {
    live_->deferred_page = std::make_unique<req::Request>(std::move(request));
    return;
  }
  answer(request);
}

void Session::answer(const req::Request& request) {
  if (ctx_.hub.handle(id_, request, std::chrono::system_clock::now()) ==
      AfterRequest::close_normally) {
    const auto* quit = std::get_if<req::Quit>(&request.body);
    end(Ending::by_server(StatusCode::normal, "bye",
                          quit && quit->reason ? *quit->reason : "quit"));
  }
  if (replies_with_a_page(request)) live_->page_end = live_->outbox.queued_total();
}

awaitable<void> Session::wait_page_written() {
  Live& live = *live_;
  while (!ending_ && live.outbox.sent_total() < live.page_end) {
    read_deadline_.arm(live.liveness.deadline());
    output_drained_.expires_at(steady_clock::time_point::max());
    co_await output_drained_.async_wait(
        asio::bind_cancellation_slot(read_deadline_.slot(), use_tuple));
    if (read_deadline_.passed()) on_idle_deadline(steady_clock::now());
  }
}

bool Session::take_rate(steady_clock::time_point now, const std::optional<RequestId>& rid) {
  switch (live_->rate.take(now)) {
    case RateGuard::Verdict::allowed:
      return true;
    case RateGuard::Verdict::flooding:
      end(Ending::by_server(StatusCode::policy, "flooding", "flooding"));
      return false;
    case RateGuard::Verdict::first_strike:
      ctx_.log.rate_limited(id_, ctx_.hub.nick_of(id_).value_or(""));
      [[fallthrough]];
    case RateGuard::Verdict::refused:
      ++ctx_.metrics.rate_limited_requests;
      if (rid)
        deliver(evt::serialize(evt::Error{ErrorCode::rate_limited, "too many requests", *rid}));
      return false;
  }
  return false;
}

void Session::on_idle_deadline(steady_clock::time_point now) {
  follow_reload(now);
  Live& live = *live_;
  const auto release = live.trim.on_deadline(now, counters_.records_out, live.outbox.empty(),
                                             live.keys.sealer.holds_cipher());
  if (release.input) {
    live.keys.opener.shrink();
    decoder_.shrink();  // idle sessions hold no read buffer: it comes back when bytes arrive
  }
  if (release.output) {
    live.keys.sealer.release_cipher();
    live.outbox.shrink();
    ++ctx_.counters.idle_trims;
  }
  switch (live.liveness.on_deadline(now)) {
    case Liveness::Due::nothing:
      return;
    case Liveness::Due::ping:
      deliver(evt::serialize(evt::Ping{}));
      return;
    case Liveness::Due::give_up:
      end(Ending::by_server(StatusCode::timeout, "idle timeout", "idle timeout"));
      return;
  }
}

void Session::follow_reload(steady_clock::time_point now) {
  Live& live = *live_;
  if (live.generation == ctx_.generation()) return;
  live.generation = ctx_.generation();
  const auto& limits = ctx_.config().limits;
  live.rate.reconfigure(limits.rate, static_cast<double>(limits.burst), limits.flood_strikes);
  live.liveness.reconfigure(std::chrono::seconds(limits.idle_interval_s),
                            std::chrono::seconds(limits.idle_timeout_s), now);
}

// ---- the end -------------------------------------------------------------------------------

void Session::end(Ending ending) {
  if (ending_) return;
  ending_ = std::move(ending);
  if (phase_ == Phase::established) phase_ = Phase::ending;
  read_deadline_.cancel_now();
}

void Session::end_session(StatusCode code, std::string_view reason) {
  end(Ending::by_server(code, std::string(reason), std::string(name_of(code))));
}

std::optional<Session::Snapshot> Session::snapshot() const {
  if (phase_ != Phase::established) return std::nullopt;
  return Snapshot{std::string(live_->keys.sealer.suite().name),
                  live_->keys.client_fingerprint,
                  counters_.bytes_in,
                  counters_.bytes_out,
                  started_,
                  live_->liveness.last_heard()};
}

void Session::shut_down(std::uint64_t reconnect_after_ms) {
  if (phase_ == Phase::established)
    deliver(evt::serialize(evt::GoAway{"server shutting down", reconnect_after_ms}));
  end(Ending::by_server(StatusCode::normal, "server shutting down", "server shutting down"));
}

void Session::evict() {
  if (phase_ == Phase::handshake)
    end(Ending::by_server(StatusCode::server_full, "busy, retry later (evicted: sent too little)",
                          ""));
}

awaitable<void> Session::close(const Ending& ending) {
  phase_ = Phase::closing;
  if (ending.server_sends_close()) {
    // Goes out even over the outbox's budget: a peer closed for being slow still learns why.
    live_->outbox.push_final(live_->keys.sealer, ContentType::close,
                             encode_close(*ending.code, ending.reason));
    ++counters_.records_out;
  }
  schedule_flush();
  // What is queued is written, unless the peer stops reading: after the linger the transport
  // closes, which ends the pending write.
  read_deadline_.arm(steady_clock::now() + kLinger);
  while (flush_enrolled_ || writer_running_) {
    output_drained_.expires_at(steady_clock::time_point::max());
    co_await output_drained_.async_wait(
        asio::bind_cancellation_slot(read_deadline_.slot(), use_tuple));
    if (read_deadline_.passed()) {
      transport_->close();
      leave(ending);
      co_return;
    }
  }
  leave(ending);
  if (ending.server_sends_close()) co_await drain_input();
}

// A peer may still be sending when the server closes (a flood, a burst). Closing with unread
// input makes the kernel answer with a reset, which can destroy the close record still in
// flight; so the write side is shut (the close record, then a FIN) and what still arrives is
// read and dropped until the peer closes too, for a short while.
awaitable<void> Session::drain_input() {
  transport_->shutdown_send();
  read_deadline_.arm(steady_clock::now() + kDrainTime);
  for (std::size_t dropped = 0; dropped < kDrainBytes;) {
    decoder_ = FrameDecoder(kHandshakeMaxFrame);  // what was read is dropped, errors included
    auto [ec] = co_await transport_->async_wait_input(
        decoder_, asio::bind_cancellation_slot(read_deadline_.slot(), use_tuple));
    if (ec || read_deadline_.passed()) co_return;
    boost::system::error_code read_ec;
    transport_->read_now(decoder_, read_ec);
    dropped += decoder_.buffered();
    if (read_ec && !would_block(read_ec)) co_return;  // the peer's EOF: both sides are closed
  }
}

void Session::leave(const Ending& ending) {
  if (phase_ == Phase::handshake || phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  const std::string nick = ctx_.hub.nick_of(id_).value_or("");
  ctx_.hub.detach(id_, ending.quit);
  --ctx_.established;
  seat_.release();
  counters_.duration_ms = ms_between(started_, steady_clock::now());
  ctx_.log.session_close(id_, peer_, nick, ending.code ? name_of(*ending.code) : "none",
                         ending.reason, counters_);
}

void Session::forget() {
  phase_ = Phase::closed;
  seat_.release();
  transport_->close();
  read_deadline_.stop();
  write_deadline_.stop();
  ctx_.sessions.erase(id_);
}

// ---- reading -------------------------------------------------------------------------------

awaitable<bool> Session::transport_handshake(steady_clock::time_point deadline) {
  read_deadline_.arm(deadline);
  auto [ec] = co_await transport_->async_handshake(
      asio::bind_cancellation_slot(read_deadline_.slot(), use_tuple));
  if (!ec && !ending_) co_return true;
  // No Error frame: nothing can be said to a peer before TLS is up.
  const std::string reason = ending_                   ? ending_->reason
                             : read_deadline_.passed() ? "no TLS handshake in time"
                                                       : "TLS: " + ec.message();
  handshake_failed(ending_ ? "none" : read_deadline_.passed() ? "timeout" : "tls", reason);
  co_return false;
}

awaitable<Session::Wait> Session::wait_input(steady_clock::time_point deadline) {
  if (ending_) co_return Wait::ended;
  const std::size_t before = decoder_.buffered();
  read_deadline_.arm(deadline);
  auto [ec] = co_await transport_->async_wait_input(
      decoder_, asio::bind_cancellation_slot(read_deadline_.slot(), use_tuple));
  boost::system::error_code read_ec;
  if (!ec && !ending_ && !read_deadline_.passed()) transport_->read_now(decoder_, read_ec);
  const std::size_t arrived = decoder_.buffered() - std::min(before, decoder_.buffered());
  counters_.bytes_in += arrived;
  ctx_.counters.bytes_in += arrived;
  if (phase_ == Phase::handshake) ctx_.admission.received(id_, counters_.bytes_in);
  if (ending_) co_return Wait::ended;
  if (read_deadline_.passed()) co_return Wait::deadline;
  if (ec || (read_ec && !would_block(read_ec))) co_return Wait::closed;
  co_return Wait::input;
}

awaitable<Session::Read> Session::read_frame(steady_clock::time_point deadline, ByteView& frame) {
  for (;;) {
    if (auto next = decoder_.next()) {
      frame = *next;
      ++counters_.records_in;
      co_return Read::frame;
    }
    if (decoder_.error() != FrameError::none) co_return Read::closed;
    switch (co_await wait_input(deadline)) {
      case Wait::input:
        break;
      case Wait::deadline:
        co_return Read::timeout;
      case Wait::ended:
        co_return Read::ended;
      case Wait::closed:
        co_return Read::closed;
    }
  }
}

// ---- writing -------------------------------------------------------------------------------

awaitable<bool> Session::write_all(ByteView bytes, steady_clock::time_point deadline) {
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = transport_->write_now(bytes, ec);
    counters_.bytes_out += n;
    ctx_.counters.bytes_out += n;
    bytes = bytes.subspan(n);
    if (bytes.empty()) co_return true;
    if (ec && !would_block(ec)) co_return false;
    read_deadline_.arm(deadline);
    auto [wait_ec] = co_await transport_->async_wait_writable(
        asio::bind_cancellation_slot(read_deadline_.slot(), use_tuple));
    if (wait_ec) co_return false;
  }
}

template <class Step>
void Session::contained(Step step) noexcept {
  try {
    step();
  } catch (const std::exception& e) {
    ctx_.log.internal_error(id_, e.what());
    abandon_output(Ending::lost("internal error"));
  }
}

void Session::deliver(std::string_view json) {
  if (phase_ != Phase::established) return;
  contained([&] {
    const bool was_keyed = live_->keys.sealer.holds_cipher();
    if (!live_->outbox.push(live_->keys.sealer, ContentType::app, as_bytes(json))) {
      ctx_.metrics.slow_consumers.add({"outbox_full"});
      ctx_.log.slow_consumer(id_, peer_, ctx_.hub.nick_of(id_).value_or(""),
                             live_->outbox.unsent_bytes(), std::nullopt);
      end(Ending::by_server(StatusCode::policy, "slow consumer", "slow consumer"));
      return;
    }
    ++counters_.records_out;
    if (!was_keyed) {
      // The sealer had been given back; without a look ahead an idle member would keep the
      // new cipher for as long as it stays silent.
      live_->trim.rekeyed(steady_clock::now(), counters_.records_out);
      read_deadline_.bring_forward(live_->trim.deadline());
    }
    schedule_flush();
  });
}

// Everything queued for this session until the FlushQueue's drain (one message to many
// recipients, several publishers' lines, a burst of replies) leaves in one write.
void Session::schedule_flush() {
  if (flush_enrolled_ || writer_running_ || !live_ || live_->outbox.empty()) return;
  flush_enrolled_ = true;
  ctx_.flushes.enroll(shared_from_this());
}

void Session::flush_output() {
  flush_enrolled_ = false;
  if (writer_running_ || !live_) return;
  contained([&] {
    switch (write_pending()) {
      case Flush::done:
        break;
      case Flush::blocked:
        // The transport is full: only now does this session get a writer coroutine.
        writer_running_ = true;
        asio::co_spawn(transport_->get_executor(), write_loop(shared_from_this()), asio::detached);
        return;
      case Flush::failed:
        abandon_output(Ending::lost("write failed"));
        break;
    }
  });
  // Only close() waits for the output to drain; other sessions do not touch the timer (a cache
  // miss per flush on the hot path).
  if (phase_ == Phase::closing && !writer_running_) output_drained_.cancel();
}

Session::Flush Session::write_pending() {
  Outbox& outbox = live_->outbox;
  while (!outbox.empty()) {
    boost::system::error_code ec;
    const std::size_t n = transport_->write_now(outbox.next_write(), ec);
    if (would_block(ec)) return Flush::blocked;
    if (ec) return Flush::failed;
    wrote(n);
  }
  return Flush::done;
}

void Session::wrote(std::size_t n) {
  live_->outbox.wrote(n);
  if (live_->deferred_page && live_->outbox.sent_total() >= live_->page_end)
    output_drained_.cancel();  // wakes wait_page_written()
  counters_.bytes_out += n;
  ctx_.counters.bytes_out += n;
}

void Session::abandon_output(Ending ending) {
  if (live_) live_->outbox.discard();
  end(std::move(ending));
}

// Runs only while the transport takes less than the session has: waits until it is writable and
// writes, until the outbox is empty. A peer that takes nothing for write_deadline_ms is a slow
// consumer, whatever the byte count.
awaitable<void> Session::write_loop(std::shared_ptr<Session> self) {
  Session& s = *self;
  const auto stall_limit = std::chrono::milliseconds(s.ctx_.config().limits.write_deadline_ms);
  auto last_progress = steady_clock::now();
  try {
    while (!s.live_->outbox.empty()) {
      s.write_deadline_.arm(last_progress + stall_limit);
      auto [ec] = co_await s.transport_->async_wait_writable(
          asio::bind_cancellation_slot(s.write_deadline_.slot(), use_tuple));
      if (s.write_deadline_.passed()) {
        if (!s.ending_) {
          s.ctx_.metrics.slow_consumers.add({"write_stalled"});
          s.ctx_.log.slow_consumer(s.id_, s.peer_, s.ctx_.hub.nick_of(s.id_).value_or(""),
                                   s.live_->outbox.unsent_bytes(),
                                   ms_between(last_progress, steady_clock::now()));
        }
        s.abandon_output(Ending::lost("write stalled", "slow consumer"));
        break;
      }
      const std::size_t unsent = s.live_->outbox.unsent_bytes();
      if (ec || s.write_pending() == Flush::failed) {
        s.abandon_output(Ending::lost("write failed"));
        break;
      }
      if (s.live_->outbox.unsent_bytes() < unsent) last_progress = steady_clock::now();
    }
  } catch (const std::exception& e) {
    s.ctx_.log.internal_error(s.id_, e.what());
    s.abandon_output(Ending::lost("internal error"));
  }
  s.writer_running_ = false;
  s.output_drained_.cancel();
}

}  // namespace parley::server
