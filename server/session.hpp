// One connection, from accept to close, as one coroutine (run()): the handshake, then the
// established session (wait for input or a deadline, handle a bounded batch of records, yield),
// then the close. Output leaves through the FlushQueue once per loop turn; a writer coroutine
// exists only while the transport cannot take more. Nothing here awaits anything that belongs
// to another session: fan-out into this session only queues.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "admission.hpp"
#include "deadline.hpp"
#include "ending.hpp"
#include "event_log.hpp"
#include "flush_queue.hpp"
#include "hub.hpp"
#include "idle_trim.hpp"
#include "liveness.hpp"
#include "occupancy.hpp"
#include "outbox.hpp"
#include "parley/frame.hpp"
#include "parley/handshake.hpp"
#include "rate_guard.hpp"
#include "transport.hpp"

namespace parley::server {

struct ServerContext;

class Session final : public Member,
                      public PendingOutput,
                      public std::enable_shared_from_this<Session> {
 public:
  // `source`: the peer's source_key(), what the per-source limits count by.
  Session(ServerContext& ctx, std::unique_ptr<Transport> transport, AdmissionSlot admission,
          std::uint64_t id, std::string peer, std::string source);
  ~Session() override;

  // The whole life of the connection. Takes the session by value so the coroutine frame owns
  // it (no capturing lambdas: see the g++ 12 pitfall).
  static boost::asio::awaitable<void> run(std::shared_ptr<Session> self);

  // Member: called by the hub while it fans out; only queues.
  void deliver(std::string_view json) override;
  void end_session(StatusCode code, std::string_view reason) override;
  std::size_t max_event_bytes() const override { return live_->max_event_bytes; }
  // Half the outbox: a history reply queued whole leaves the other half for live traffic.
  std::size_t reply_budget_bytes() const override { return live_->outbox.budget() / 2; }
  // FlushQueue: one write, without waiting, of everything queued.
  void flush_output() override;
  // SIGTERM or drain: a `goaway` (PROTOCOL.md 6.7) naming when to reconnect, then close(normal,
  // "server shutting down").
  void shut_down(std::uint64_t reconnect_after_ms);
  // Admission made room for a newcomer at this handshake's expense (before its ClientHello).
  void evict();

  std::uint64_t id() const { return id_; }
  // "ADDRESS:PORT" ("[ADDRESS]:PORT" for IPv6), as the log says it.
  const std::string& peer() const { return peer_; }

  // What the operator's `sessions` listing shows of an established session (nullopt otherwise).
  struct Snapshot {
    std::string suite;
    std::string fingerprint;  // the client's identity, "" when anonymous
    std::uint64_t bytes_in, bytes_out;
    std::chrono::steady_clock::time_point started, last_heard;
  };
  std::optional<Snapshot> snapshot() const;

  // Where run() is, for the metrics page: closing covers everything after the end was decided.
  enum class State { handshake, established, closing };
  State state() const {
    return phase_ == Phase::handshake     ? State::handshake
           : phase_ == Phase::established ? State::established
                                          : State::closing;
  }

 private:
  // ending: established, and how it ends is decided (output is no longer queued); closing:
  // close() runs.
  enum class Phase { handshake, established, ending, closing, closed };
  enum class Wait { input, deadline, ended, closed };
  enum class Read { frame, timeout, ended, closed };
  enum class Flush { done, blocked, failed };
  // What only an established session has. The outbox and the sealer at the start of `keys` are
  // next to each other: every delivery touches both.
  struct Live {
    Outbox outbox;
    Established keys;
    Liveness liveness;
    IdleTrim trim;
    RateGuard rate;
    std::uint64_t generation;         // of the configuration the policies above follow
    std::uint64_t max_message_bytes;  // as the welcome announced: a reload does not change it
    std::size_t max_event_bytes;      // the longest event a record within max_frame holds
    // Paging (PROTOCOL.md 6.5) and history replies (6.4): where in the output stream the last page
    // or reply ends, and such a request that arrived before it was written (read no further until
    // it is answered; it takes effect then, see docs/protocol.md).
    std::uint64_t page_end = 0;
    std::unique_ptr<req::Request> deferred_page;
  };

  // The phases of run(), in order. What a phase hands on lives on the heap or in the session, not
  // in run()'s frame, which an idle session keeps for its whole life.
  boost::asio::awaitable<std::unique_ptr<Established>> handshake();
  void attach(Established keys);
  // Returns once ending_ is decided.
  boost::asio::awaitable<void> serve();
  boost::asio::awaitable<void> close(const Ending& ending);
  // After a close record: the write side shut, what still arrives read and dropped, briefly.
  boost::asio::awaitable<void> drain_input();
  // Leaves the hub and logs the close (once, whatever the path).
  void leave(const Ending& ending);
  // Leaves the session table with the transport closed (the last step, whatever the path).
  void forget();

  // Decides how the session ends (the first decision stands) and wakes run() from its wait.
  void end(Ending ending);

  // Reading, handshake and established alike: waits for input (then reads what is there), the
  // deadline, or the end; counts what arrived.
  boost::asio::awaitable<Wait> wait_input(std::chrono::steady_clock::time_point deadline);
  // Until the decoder holds a whole frame (then `frame` views it), the deadline, or the end.
  boost::asio::awaitable<Read> read_frame(std::chrono::steady_clock::time_point deadline,
                                          ByteView& frame);
  boost::asio::awaitable<bool> write_all(ByteView bytes,
                                         std::chrono::steady_clock::time_point deadline);
  // TLS (or another transport's handshake); otherwise logs why it failed and returns false.
  boost::asio::awaitable<bool> transport_handshake(std::chrono::steady_clock::time_point deadline);
  // The next handshake frame; otherwise logs why the handshake ended (before the ServerHello, a
  // timeout is also told in an Error frame) and returns false.
  boost::asio::awaitable<bool> handshake_frame(std::chrono::steady_clock::time_point deadline,
                                               ByteView& frame, bool server_hello_sent,
                                               std::string_view timeout_reason);
  // Logs a handshake that ended without a session and counts it by its code.
  void handshake_failed(std::string_view code, std::string_view reason);
  // Handshake refusals before the ServerHello: an Error frame, then the end.
  boost::asio::awaitable<void> refuse(StatusCode code, std::string_view reason,
                                      std::chrono::steady_clock::time_point deadline);

  // Handles up to kRecordsPerTurn whole records; true when it stopped at that bound (more may
  // be buffered). `now` is when the batch was read.
  bool handle_records(std::chrono::steady_clock::time_point now);
  void on_record(ContentType type, ByteView data, std::chrono::steady_clock::time_point now);
  void on_app(std::string_view json, std::chrono::steady_clock::time_point now);
  void answer(const req::Request& request);
  // Until the last page has been written (or the session ends); meanwhile nothing is read, so a
  // client that stops reading cannot make the server build more.
  boost::asio::awaitable<void> wait_page_written();
  // Every record counts against the session's rate. False when refused: a request (with `rid`)
  // gets a rate_limited error, and the flood strikes may end the session.
  bool take_rate(std::chrono::steady_clock::time_point now, const std::optional<RequestId>& rid);
  // The idle deadline: trims, pings, or gives up on a silent client.
  void on_idle_deadline(std::chrono::steady_clock::time_point now);
  // After a reload the policies follow the new configuration.
  void follow_reload(std::chrono::steady_clock::time_point now);

  // Enrolls in the FlushQueue when there is output and no flush or writer is pending.
  void schedule_flush();
  // Writes what the transport takes now, without waiting.
  Flush write_pending();
  void wrote(std::size_t n);
  // Runs only while the transport takes less than the session has.
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<Session> self);
  // Nothing more can reach the peer: drops what is unsent and ends the session.
  void abandon_output(Ending ending);
  // An exception outside run()'s coroutine (fan-out, flush): ends this session only.
  template <class Step>
  void contained(Step step) noexcept;

  ServerContext& ctx_;
  std::unique_ptr<Transport> transport_;
  AdmissionSlot admission_;
  std::uint64_t id_;
  std::string peer_;
  std::string source_;
  Occupancy::Seat seat_;  // from the ServerHello on
  std::chrono::steady_clock::time_point started_;
  std::optional<Ending> ending_;
  Deadline read_deadline_;   // the pending input wait (or, closing, the linger)
  Deadline write_deadline_;  // the writer's wait: a stalled peer is a slow consumer
  boost::asio::steady_timer output_drained_;  // a signal: cancelled when the writer is done
  FrameDecoder decoder_;
  std::optional<Live> live_;
  EventLog::SessionCounters counters_{};
  // Together, after the rest: every delivery and flush reads these (one cache line).
  Phase phase_ = Phase::handshake;
  bool flush_enrolled_ = false;
  bool writer_running_ = false;
};

}  // namespace parley::server
