#include "session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "parley/event.hpp"
#include "parley/request.hpp"
#include "server_context.hpp"

namespace parley::server {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using asio::awaitable;
using std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// How long a closing session may take to flush its last records.
constexpr std::chrono::seconds kLinger{5};
// Read room asked for per read (the buffer may offer more once a large frame has grown it). It is
// kept small because every connection holds one through its handshake; an idle session gives it
// back in trim_idle().
constexpr std::size_t kReadChunk = 4096;
// Records handled from one read before other sessions get a turn. Several per turn let a
// publisher's burst reach each recipient's outbox together, and leave in one write.
constexpr unsigned kRecordsPerTurn = 32;
// After this long without a record from the client, an idle session gives back its keyed
// cipher objects (kilobytes each); re-deriving one costs tens of microseconds.
constexpr std::chrono::seconds kTrimAfter{2};

std::string session_label(std::uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, id);
  return buf;
}

std::uint64_t ms_since(steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t).count());
}

}  // namespace

Session::Session(ServerContext& ctx, asio::ip::tcp::socket socket, std::uint64_t id,
                 std::string peer)
    : ctx_(ctx),
      socket_(std::move(socket)),
      id_(id),
      peer_(std::move(peer)),
      started_(steady_clock::now()),
      read_timer_(socket_.get_executor()),
      write_signal_(socket_.get_executor()),
      linger_timer_(socket_.get_executor()),
      decoder_(kHandshakeMaxFrame) {}

Session::~Session() {
  release_admission();
}

void Session::release_admission() {
  if (!holds_admission_) return;
  holds_admission_ = false;
  ctx_.admission.handshake_finished();
}

awaitable<void> Session::run(std::shared_ptr<Session> self) {
  Session& s = *self;
  s.ctx_.log.session_open(s.id_, s.peer_);
  boost::system::error_code ec;
  s.socket_.non_blocking(true, ec);
  s.socket_.set_option(asio::ip::tcp::no_delay(true), ec);

  bool established = false;
  try {
    established = co_await s.handshake();
  } catch (const std::exception& e) {
    s.ctx_.log.internal_error(s.id_, e.what());
  }
  s.release_admission();

  if (established && !s.ctx_.shutting_down) {
    const auto& limits = s.ctx_.config().limits;
    s.decoder_.set_max_frame(limits.max_frame);
    s.outbox_.emplace(limits.outbox_bytes);
    s.nick_ = s.ctx_.hub.attach(s.id_, s, s.keys_->client_fingerprint);
    s.attached_ = true;
    ++s.ctx_.established;
    evt::Welcome welcome{session_label(s.id_),
                         s.nick_,
                         "parleyd",
                         limits.max_frame,
                         limits.max_message_bytes,
                         std::string(s.keys_->sealer.suite().name),
                         limits.rate,
                         limits.burst};
    s.deliver(evt::serialize(welcome));
    s.last_heard_ = steady_clock::now();
    s.next_trim_ = s.last_heard_ + kTrimAfter;
    // From here the session is driven by completion handlers, not by this coroutine: an idle
    // session then holds one pending wait and one timer, and no coroutine frames at all.
    s.guarded([&s] { s.handle_records(); });
    co_return;
  }
  s.forget();
}

void Session::forget() {
  finishing_ = true;
  boost::system::error_code ec;
  socket_.close(ec);
  stop_reading();
  linger_timer_.cancel();
  ctx_.sessions.erase(id_);
}

void Session::shut_down() {
  if (outbox_ && keys_) {
    finish(StatusCode::normal, "server shutting down", "server shutting down");
    return;
  }
  // Still in the handshake: no session to close politely yet.
  finishing_ = true;
  boost::system::error_code ec;
  socket_.close(ec);
}

// The handshake's wait. The deadline is a plain timer handler that cancels just this wait
// through a cancellation slot (`wait || timer` would keep a parallel group and two spawned
// coroutine frames per connection); wait_for_input() uses the same timer after the handshake.
awaitable<Session::Wake> Session::wait_readable(steady_clock::time_point deadline) {
  begin_read_wait(deadline);
  auto [ec] =
      co_await socket_.async_wait(asio::ip::tcp::socket::wait_read,
                                  asio::bind_cancellation_slot(read_cancel_.slot(), use_tuple));
  co_return end_read_wait(ec);
}

void Session::begin_read_wait(steady_clock::time_point deadline) {
  read_deadline_ = deadline;
  deadline_hit_ = false;
  arm_read_timer();
  read_waiting_ = true;
}

Session::Wake Session::end_read_wait(const boost::system::error_code& ec) {
  read_waiting_ = false;
  if (finishing_) return Wake::stopped;
  if (deadline_hit_) return Wake::deadline;
  return ec ? Wake::failed : Wake::readable;
}

Session::Read Session::read_available() {
  boost::system::error_code ec;
  auto room = decoder_.prepare(kReadChunk);
  const std::size_t n = socket_.read_some(asio::buffer(room.data(), room.size()), ec);
  decoder_.commit(ec ? 0 : n);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return Read::again;
  if (ec) return Read::closed;  // the peer's EOF included
  counters_.bytes_in += n;
  ctx_.counters.bytes_in += n;
  return Read::data;
}

// A busy session moves its deadline on every record; re-arming the timer each time would cost
// timer-queue work per read. The timer stays armed for the earliest deadline asked for, and when
// it fires early (the deadline has since moved on) it re-arms itself for the current one.
void Session::arm_read_timer() {
  if (read_timer_expiry_ && *read_timer_expiry_ <= read_deadline_) return;
  read_timer_expiry_ = read_deadline_;
  read_timer_.expires_at(read_deadline_);  // a wait already armed ends with operation_aborted
  read_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    const auto self = weak.lock();
    if (!self) return;
    self->read_timer_expiry_.reset();
    if (!self->read_waiting_ || self->finishing_) return;
    if (steady_clock::now() < self->read_deadline_) {
      self->arm_read_timer();
      return;
    }
    self->deadline_hit_ = true;
    self->read_cancel_.emit(asio::cancellation_type::terminal);
  });
}

void Session::stop_reading() {
  read_timer_.cancel();
  read_timer_expiry_.reset();
  read_cancel_.emit(asio::cancellation_type::terminal);
}

awaitable<Session::ReadResult> Session::read_frame(steady_clock::time_point deadline) {
  for (;;) {
    if (auto frame = decoder_.next()) {
      frame_ = *frame;
      ++counters_.records_in;
      co_return ReadResult::frame;
    }
    if (decoder_.error() != FrameError::none) co_return ReadResult::closed;
    const Wake wake = co_await wait_readable(deadline);
    if (wake == Wake::deadline) co_return ReadResult::timeout;
    if (wake != Wake::readable || read_available() == Read::closed) co_return ReadResult::closed;
  }
}

awaitable<bool> Session::write_now(const Bytes& bytes) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), use_tuple);
  counters_.bytes_out += n;
  ctx_.counters.bytes_out += n;
  co_return !ec;
}

void Session::handshake_failed(StatusCode code, std::string_view reason) {
  close_code_name_ = std::string(name_of(code));
  close_reason_ = std::string(reason);
  ctx_.log.handshake_failed(id_, peer_, name_of(code), reason);
}

awaitable<bool> Session::refuse(StatusCode code, std::string_view reason) {
  handshake_failed(code, reason);
  // Named, not a temporary inside the co_await: g++ 12 destroys such
  // temporaries twice (the PR100611 family, caught by ASan here).
  const Bytes frame = encode_frame(encode(ErrorFrame{code, std::string(reason)}));
  co_await write_now(frame);
  co_return false;
}

awaitable<bool> Session::handshake() {
  const auto deadline =
      started_ + std::chrono::milliseconds(ctx_.config().limits.handshake_timeout_ms);
  // The policy in force when the connection arrived; a reload does not change it mid-handshake.
  const std::shared_ptr<const ServerPolicy> policy = ctx_.policy();
  ServerHandshake hs(ctx_.identity, *policy, ctx_.rng);
  auto failed = [this](StatusCode code, std::string_view reason) {
    handshake_failed(code, reason);
  };

  switch (co_await read_frame(deadline)) {
    case ReadResult::timeout:
      co_return co_await refuse(StatusCode::timeout, "handshake timeout");
    case ReadResult::closed:
      failed(StatusCode::bad_message,
             decoder_.error() != FrameError::none ? "bad frame length" : "connection closed");
      co_return false;
    case ReadResult::frame:
      break;
  }
  // Refuse junk before queueing for a signature.
  if (const auto failure = hs.precheck(frame_)) {
    co_return co_await refuse(failure->code, failure->reason);
  }
  co_await ctx_.signing.acquire();
  HandshakeStep step = hs.on_frame(frame_);
  if (!step.send.empty() && !co_await write_now(step.send)) co_return false;
  if (step.failure) {
    failed(step.failure->code, step.failure->reason);
    co_return false;
  }

  // After the ServerHello no Error frame is sent: a timeout just closes.
  const ReadResult r = co_await read_frame(deadline);
  if (r != ReadResult::frame) {
    failed(r == ReadResult::timeout ? StatusCode::timeout : StatusCode::bad_message,
           r == ReadResult::timeout ? "handshake timeout" : "connection closed");
    co_return false;
  }
  step = hs.on_frame(frame_);
  if (!step.send.empty()) co_await write_now(step.send);
  if (step.failure) {
    if (step.failure->code == StatusCode::auth_failed) {
      close_code_name_ = "auth_failed";
      close_reason_ = step.failure->reason;
      ctx_.log.auth_failed(id_, peer_, "", step.failure->reason);
    } else {
      failed(step.failure->code, step.failure->reason);
    }
    co_return false;
  }
  keys_ = std::move(step.established);
  ctx_.log.handshake_ok(id_, peer_, keys_->sealer.suite().name, keys_->client_fingerprint,
                        ms_since(started_));
  co_return true;
}

template <class Step>
void Session::guarded(Step step) noexcept {
  try {
    step();
  } catch (const std::exception& e) {
    ctx_.log.internal_error(id_, e.what());
    finish(std::nullopt, "internal error", "connection lost");
  }
}

// Waits for the next bytes, the idle deadline (a ping, then the idle timeout), or the time to
// trim an idle session, whichever is first.
void Session::wait_for_input() {
  if (finishing_) return;
  const auto& limits = ctx_.config().limits;
  const auto idle = std::chrono::seconds(limits.idle_interval_s);
  idle_deadline_ = ping_outstanding_
                       ? last_heard_ + idle + std::chrono::seconds(limits.idle_timeout_s)
                       : last_heard_ + idle;
  begin_read_wait(std::min(idle_deadline_, next_trim_));
  socket_.async_wait(
      asio::ip::tcp::socket::wait_read,
      asio::bind_cancellation_slot(
          read_cancel_.slot(), [self = shared_from_this()](const boost::system::error_code& ec) {
            self->guarded([&] { self->on_readable(ec); });
          }));
}

void Session::on_readable(const boost::system::error_code& ec) {
  switch (end_read_wait(ec)) {
    case Wake::stopped:
      return;
    case Wake::deadline:
      on_read_deadline();
      return;
    case Wake::failed:
      finish(std::nullopt, "connection lost", "connection lost");
      return;
    case Wake::readable:
      break;
  }
  switch (read_available()) {
    case Read::again:
      wait_for_input();
      return;
    case Read::closed:
      finish(std::nullopt, "connection lost", "connection lost");
      return;
    case Read::data:
      handle_records();
      return;
  }
}

void Session::on_read_deadline() {
  if (read_deadline_ < idle_deadline_) {
    trim_idle();
    wait_for_input();
    return;
  }
  if (!ping_outstanding_) {
    ping_outstanding_ = true;
    deliver(evt::serialize(evt::Ping{}));
    wait_for_input();
    return;
  }
  finish(StatusCode::timeout, "idle timeout", "idle timeout");
}

void Session::handle_records() {
  // One clock reading per batch: its records arrived together.
  const auto now = steady_clock::now();
  for (unsigned handled = 0; handled < kRecordsPerTurn && !finishing_; ++handled) {
    const auto frame = decoder_.next();
    if (!frame) {
      if (decoder_.error() == FrameError::none) {
        wait_for_input();
      } else {
        const bool too_long = decoder_.error() == FrameError::too_long;
        finish(std::nullopt, too_long ? "frame too long" : "connection lost", "connection lost");
      }
      return;
    }
    ++counters_.records_in;
    last_heard_ = now;
    next_trim_ = now + kTrimAfter;
    ping_outstanding_ = false;
    auto opened = keys_->opener.open(*frame);
    if (auto* error = std::get_if<RecordError>(&opened)) {
      // Nothing more is read or sent after a bad record (PROTOCOL.md 3.2a).
      finish(std::nullopt, describe(*error), "connection lost");
      return;
    }
    const auto& record = std::get<OpenedRecord>(opened);
    on_record(record.type, record.data, now);
  }
  if (finishing_) return;
  // A bounded batch per turn: a long burst already in our buffer must not fill other sessions'
  // outboxes before the FlushQueue has had a turn to write them.
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->guarded([&] { self->handle_records(); }); });
}

void Session::trim_idle() {
  keys_->opener.shrink();
  decoder_.shrink();  // idle sessions hold no read buffer: it comes back when bytes arrive
  // The sealer may still be busy with deliveries to this session: it is released only when
  // nothing was sealed since the previous look, and looked at again until then.
  const std::uint64_t sealed = counters_.records_out;
  const bool output_idle = !outbox_ || outbox_->empty();
  if (sealed == sealed_at_trim_ && output_idle) {
    keys_->sealer.release_cipher();
    if (outbox_) outbox_->shrink();
  }
  sealed_at_trim_ = sealed;
  next_trim_ = keys_->sealer.holds_cipher() ? steady_clock::now() + kTrimAfter
                                            : steady_clock::time_point::max();
}

void Session::on_record(ContentType type, ByteView data, steady_clock::time_point now) {
  switch (type) {
    case ContentType::app:
      on_app(as_chars(data), now);
      return;
    case ContentType::close: {
      auto close = parse_close(data);
      finish(std::nullopt, close ? close->reason : "", "connection closed");
      close_code_name_ = close ? std::string(name_of(close->code)) : "normal";
      return;
    }
    case ContentType::key_update:  // the opener has already moved to the new keys
    case ContentType::finished:    // refused by the opener after record #0
      return;
  }
}

void Session::on_app(std::string_view json, steady_clock::time_point now) {
  const auto& limits = ctx_.config().limits;
  if (!bucket_) {
    bucket_.emplace(limits.rate, static_cast<double>(limits.burst), now);
  } else if (bucket_generation_ != ctx_.generation()) {
    bucket_->reconfigure(limits.rate, static_cast<double>(limits.burst));
  }
  bucket_generation_ = ctx_.generation();

  auto parsed = req::parse(json, req::Limits{limits.max_message_bytes});
  if (!bucket_->try_take(now)) {
    if (strikes_++ == 0) ctx_.log.rate_limited(id_, ctx_.hub.nick_of(id_).value_or(""));
    if (strikes_ >= limits.flood_strikes) {
      finish(StatusCode::policy, "flooding", "flooding");
      return;
    }
    const RequestId rid = std::holds_alternative<req::Request>(parsed)
                              ? std::get<req::Request>(parsed).id
                              : std::get<req::Rejection>(parsed).id;
    deliver(evt::serialize(evt::Error{ErrorCode::rate_limited, "too many requests", rid}));
    return;
  }
  strikes_ = 0;
  if (auto* rejection = std::get_if<req::Rejection>(&parsed)) {
    ctx_.hub.reject(id_, *rejection);
    return;
  }
  const auto& request = std::get<req::Request>(parsed);
  if (ctx_.hub.handle(id_, request, std::chrono::system_clock::now()) ==
      AfterRequest::close_normally) {
    const auto* quit = std::get_if<req::Quit>(&request.body);
    finish(StatusCode::normal, "bye", quit && quit->reason ? *quit->reason : "quit");
  }
}

void Session::deliver(std::string_view json) {
  if (finishing_ || !outbox_) return;
  if (!outbox_->push(keys_->sealer, ContentType::app, as_bytes(json))) {
    ctx_.log.slow_consumer(id_, peer_, ctx_.hub.nick_of(id_).value_or(""), outbox_->unsent_bytes());
    finish(StatusCode::policy, "slow consumer", "slow consumer");
    return;
  }
  ++counters_.records_out;
  schedule_flush();
}

// Everything queued for this session until the FlushQueue's drain (one message to many
// recipients, several publishers' lines, a burst of replies) leaves in one write.
void Session::schedule_flush() {
  if (flush_enrolled_ || writer_running_ || !outbox_ || outbox_->empty()) return;
  flush_enrolled_ = true;
  ctx_.flushes.enroll(shared_from_this());
}

void Session::flush_output() {
  flush_enrolled_ = false;
  if (writer_running_) return;
  switch (write_pending()) {
    case Flush::done:
      break;
    case Flush::blocked:
      // The socket is full: only now does this session get a writer coroutine.
      writer_running_ = true;
      asio::co_spawn(socket_.get_executor(), write_loop(shared_from_this()), asio::detached);
      return;
    case Flush::failed:
      outbox_->discard();
      finish(std::nullopt, "write failed", "connection lost");
      break;
  }
  if (finishing_) write_signal_.cancel();  // run() may be waiting for the last write
}

Session::Flush Session::write_pending() {
  while (!outbox_->empty()) {
    const ByteView bytes = outbox_->next_write();
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return Flush::blocked;
    if (ec) return Flush::failed;
    outbox_->wrote(n);
    counters_.bytes_out += n;
    ctx_.counters.bytes_out += n;
  }
  return Flush::done;
}

void Session::finish(std::optional<StatusCode> close_code, std::string_view close_reason,
                     std::string quit_reason) {
  if (finishing_) return;
  finishing_ = true;
  quit_reason_ = std::move(quit_reason);
  close_code_name_ = close_code ? std::string(name_of(*close_code)) : "none";
  close_reason_ = std::string(close_reason);
  if (close_code && outbox_) {
    outbox_->push_final(keys_->sealer, ContentType::close, encode_close(*close_code, close_reason));
    ++counters_.records_out;
  }
  stop_reading();
  schedule_flush();
  linger_timer_.expires_after(kLinger);
  asio::co_spawn(socket_.get_executor(), linger(shared_from_this()), asio::detached);
  asio::co_spawn(socket_.get_executor(), close_down(shared_from_this()), asio::detached);
}

// The end of an established session: what finish() queued is written (a pending flush, or the
// writer while the socket is full) or the linger timer cuts a stalled peer off; then the others
// are told, the close is logged and the socket closes.
awaitable<void> Session::close_down(std::shared_ptr<Session> self) {
  Session& s = *self;
  while (s.writer_running_ || s.flush_enrolled_) {
    s.write_signal_.expires_at(steady_clock::time_point::max());
    co_await s.write_signal_.async_wait(use_tuple);
  }
  if (auto nick = s.ctx_.hub.nick_of(s.id_)) s.nick_ = *nick;
  s.ctx_.hub.detach(s.id_, s.quit_reason_.empty() ? "connection lost" : s.quit_reason_);
  --s.ctx_.established;
  s.counters_.duration_ms = ms_since(s.started_);
  s.ctx_.log.session_close(s.id_, s.peer_, s.nick_, s.close_code_name_, s.close_reason_,
                           s.counters_);
  s.forget();
}

// Runs only while the socket is full: waits until it takes more, writes, and ends once the
// outbox is empty (later output goes through the FlushQueue again).
awaitable<void> Session::write_loop(std::shared_ptr<Session> self) {
  Session& s = *self;
  try {
    for (;;) {
      auto [ec] = co_await s.socket_.async_wait(asio::ip::tcp::socket::wait_write, use_tuple);
      const Flush result = ec ? Flush::failed : s.write_pending();
      if (result == Flush::blocked) continue;
      if (result == Flush::failed) {
        s.outbox_->discard();
        s.finish(std::nullopt, "write failed", "connection lost");
      }
      break;
    }
  } catch (const std::exception& e) {
    s.ctx_.log.internal_error(s.id_, e.what());
    s.finish(std::nullopt, "internal error", "connection lost");
  }
  s.writer_running_ = false;
  s.write_signal_.cancel();  // run() may be waiting for the last write
}

awaitable<void> Session::linger(std::shared_ptr<Session> self) {
  // A peer that stops reading cannot hold a closing session open: after the
  // grace period the socket closes, which ends the pending write.
  auto [ec] = co_await self->linger_timer_.async_wait(use_tuple);
  if (ec) co_return;  // cancelled: the session ended by itself
  boost::system::error_code ignored;
  self->socket_.close(ignored);
}

}  // namespace parley::server
