// One connection: the handshake (a coroutine, under its deadline), then an established session
// driven by completion handlers: a wait for input, records handled in bounded batches, and an
// Outbox that the FlushQueue writes once per loop turn (a writer coroutine exists only while
// the socket is full). Nothing here awaits anything that belongs to another session: fan-out
// into this session only queues.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "admission.hpp"
#include "event_log.hpp"
#include "flush_queue.hpp"
#include "hub.hpp"
#include "outbox.hpp"
#include "parley/frame.hpp"
#include "parley/handshake.hpp"
#include "parley/token_bucket.hpp"

namespace parley::server {

struct ServerContext;

class Session final : public Member,
                      public PendingOutput,
                      public std::enable_shared_from_this<Session> {
 public:
  // `admitted` says the session holds a slot in Admission until its handshake ends.
  Session(ServerContext& ctx, boost::asio::ip::tcp::socket socket, std::uint64_t id,
          std::string peer);
  ~Session() override;

  // The whole life of the connection. Takes the session by value so the
  // coroutine frame owns it (no capturing lambdas: see the g++ 12 pitfall).
  static boost::asio::awaitable<void> run(std::shared_ptr<Session> self);

  // Member: called by the hub while it fans out; only queues.
  void deliver(std::string_view json) override;

  // FlushQueue: one non-blocking write of everything queued.
  void flush_output() override;

  // SIGTERM: close(normal, "server shutting down") and end.
  void shut_down();

  std::uint64_t id() const { return id_; }

 private:
  enum class Wake { readable, deadline, stopped, failed };
  enum class Flush { done, blocked, failed };
  enum class Read { data, again, closed };
  enum class ReadResult { frame, timeout, closed };

  boost::asio::awaitable<bool> handshake();
  void handshake_failed(StatusCode code, std::string_view reason);
  // An Error frame, then the end (handshake refusals before the ServerHello).
  boost::asio::awaitable<bool> refuse(StatusCode code, std::string_view reason);
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<Session> self);
  static boost::asio::awaitable<void> linger(std::shared_ptr<Session> self);
  static boost::asio::awaitable<void> close_down(std::shared_ptr<Session> self);
  // Leaves the session table with the socket closed (the last step, whatever the path).
  void forget();

  // The established session runs on completion handlers: each step goes through guarded(),
  // which turns an exception into an internal_error log line and the end of this session only.
  template <class Step>
  void guarded(Step step) noexcept;
  void wait_for_input();
  void on_readable(const boost::system::error_code& ec);
  void on_read_deadline();
  // Handles up to kRecordsPerTurn whole records already buffered, then waits or yields.
  void handle_records();

  // Ends a pending read wait, handshake or established (finish, shutdown).
  void stop_reading();
  // Waits until the socket is readable, the deadline passes, or stop_reading() is called.
  boost::asio::awaitable<Wake> wait_readable(std::chrono::steady_clock::time_point deadline);
  // The bookkeeping around every read wait, handshake or established.
  void begin_read_wait(std::chrono::steady_clock::time_point deadline);
  Wake end_read_wait(const boost::system::error_code& ec);
  // One non-blocking read into decoder_.
  Read read_available();
  // Reads until decoder_ holds a whole frame (then `frame_` views it), the deadline, or the end.
  boost::asio::awaitable<ReadResult> read_frame(std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<bool> write_now(const Bytes& bytes);

  // Gives back what an idle session does not need (cipher objects, buffers).
  void trim_idle();
  // `now` is when the batch holding the record was read.
  void on_record(ContentType type, ByteView data, std::chrono::steady_clock::time_point now);
  void on_app(std::string_view json, std::chrono::steady_clock::time_point now);
  // Starts the end of the session: optionally a close record, then the writer
  // drains and the socket closes. `quit_reason` is what the others are told.
  void finish(std::optional<StatusCode> close_code, std::string_view close_reason,
              std::string quit_reason);
  // Enrolls in the FlushQueue when there is output and no flush or writer is pending.
  void schedule_flush();
  // Writes what the socket takes now, without blocking.
  Flush write_pending();
  // Arms read_timer_ for read_deadline_ unless it already fires no later.
  void arm_read_timer();
  void release_admission();

  ServerContext& ctx_;
  boost::asio::ip::tcp::socket socket_;
  std::uint64_t id_;
  std::string peer_;
  std::chrono::steady_clock::time_point started_;
  // The read deadline is checked lazily: the timer is re-armed only when it fires early or the
  // deadline moves earlier, not on every read of a busy session.
  boost::asio::steady_timer read_timer_;
  std::chrono::steady_clock::time_point read_deadline_;  // the earlier of the two below
  std::chrono::steady_clock::time_point idle_deadline_;
  std::optional<std::chrono::steady_clock::time_point> read_timer_expiry_;  // while armed
  boost::asio::cancellation_signal read_cancel_;  // ends the pending read wait
  bool read_waiting_ = false;
  bool deadline_hit_ = false;
  boost::asio::steady_timer write_signal_;  // cancelled when output drains while finishing
  bool flush_enrolled_ = false;
  bool writer_running_ = false;  // write_loop() waits for the socket to take more
  boost::asio::steady_timer linger_timer_;
  FrameDecoder decoder_;
  ByteView frame_;
  std::optional<Established> keys_;
  std::optional<Outbox> outbox_;
  std::optional<TokenBucket> bucket_;
  std::uint64_t bucket_generation_ = 0;
  std::uint64_t strikes_ = 0;
  bool holds_admission_ = true;
  bool attached_ = false;
  bool finishing_ = false;
  bool ping_outstanding_ = false;
  std::chrono::steady_clock::time_point last_heard_;
  // When the session next looks at trimming an idle session (trim_idle()).
  std::chrono::steady_clock::time_point next_trim_ = std::chrono::steady_clock::time_point::max();
  std::uint64_t sealed_at_trim_ = ~std::uint64_t{0};  // counters_.records_out at the last look
  std::string nick_;
  std::string quit_reason_;
  std::string close_code_name_ = "normal";
  std::string close_reason_;
  EventLog::SessionCounters counters_{};
};

}  // namespace parley::server
