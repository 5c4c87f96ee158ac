#include "scripted.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <deque>
#include <iostream>
#include <vector>

#include "guarded.hpp"
#include "line_reader.hpp"
#include "listen_line.hpp"
#include "pacer.hpp"
#include "render.hpp"

namespace parley::client {

namespace asio = boost::asio;
using asio::awaitable;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kLeaveTimeout{5};

// How a request is named in an error message. The id is the server's echo, so it is text from
// the peer like any other.
std::string what_was_refused(const RequestId& id) {
  if (const auto* n = std::get_if<std::int64_t>(&id)) return "line " + std::to_string(*n);
  if (const auto* s = std::get_if<std::string>(&id)) return "--" + sanitize(*s);
  return "a request";
}

[[noreturn]] void session_ended(const Received& received) {
  if (const auto* closed = std::get_if<SessionClosed>(&received))
    throw ClientError(Exit::closed, describe_close(closed->close.code, closed->close.reason));
  if (const auto* violation = std::get_if<ProtocolViolation>(&received))
    throw ClientError(Exit::closed, "protocol error: " + sanitize(violation->what));
  throw ClientError(Exit::closed, sanitize(std::get<ConnectionLost>(received).what));
}

// The requests both modes start with: --nick, then the room (not when only sending DMs).
// Their ids name the option in error messages (what_was_refused).
std::vector<req::Request> setup_requests(const ScriptOptions& options) {
  std::vector<req::Request> out;
  if (options.nick) out.push_back({RequestId{"nick"}, req::Nick{*options.nick}});
  if (!options.to) out.push_back({RequestId{"join"}, req::Join{options.room}});
  return out;
}

awaitable<int> wait_for_signal() {
  asio::signal_set signals(co_await asio::this_coro::executor, SIGINT, SIGTERM);
  auto [ec, signo] = co_await signals.async_wait(use_tuple);
  co_return ec ? 0 : signo;
}

class PipeRun {
 public:
  PipeRun(std::shared_ptr<Connection> connection, const ScriptOptions& options, int input_fd)
      : connection_(std::move(connection)),
        options_(options),
        input_(connection_->get_executor(), input_fd, connection_->welcome().max_message_bytes),
        pacer_(Pacer::for_welcome(connection_->welcome(), Clock::now())),
        timer_(connection_->get_executor()),
        all_acked_(connection_->get_executor()) {}

  awaitable<void> run() {
    auto outcome = co_await (guarded(send_all()) || guarded(receive_acks()));
    rethrow_branch_error(outcome);
  }

  std::size_t sent() const { return sent_; }
  std::size_t acked() const { return acked_; }

 private:
  awaitable<void> paced_send(req::Request request) {
    for (;;) {
      const auto delay = pacer_.delay(Clock::now());
      if (delay == Clock::duration::zero()) break;
      timer_.expires_after(delay);
      auto [ec] = co_await timer_.async_wait(use_tuple);
      if (ec) throw boost::system::system_error(ec);  // cancelled by `||`
    }
    pacer_.spend(Clock::now());
    outstanding_.push_back(request.id);
    connection_->send(request);
  }

  awaitable<void> send_all() {
    // Built before co_await: g++ 12 mishandles temporaries inside co_await.
    std::vector<req::Request> setup = setup_requests(options_);
    for (auto& request : setup)
      co_await paced_send(std::move(request));
    for (;;) {
      std::optional<std::string> line;
      try {
        line = co_await input_.next_line();
      } catch (const LineTooLong& e) {
        throw ClientError(Exit::refused,
                          "line " + std::to_string(e.line()) + " is longer than the server's " +
                              std::to_string(connection_->welcome().max_message_bytes) +
                              "-byte limit; it and the lines after it were not sent");
      }
      if (!line) break;
      if (line->empty()) continue;  // nothing to say (the server refuses empty text)
      const RequestId id{static_cast<std::int64_t>(input_.lines_read())};
      req::Body body = options_.to ? req::Body{req::Msg{*options_.to, std::move(*line)}}
                                   : req::Body{req::Say{options_.room, std::move(*line)}};
      req::Request request{id, std::move(body)};
      co_await paced_send(std::move(request));
      ++sent_;
    }
    while (!outstanding_.empty()) {
      all_acked_.expires_at(Clock::time_point::max());
      co_await all_acked_.async_wait(use_tuple);
      // Woken by the last ack (then the loop ends) or cancelled by `||`.
      if (!outstanding_.empty()) co_return;
    }
  }

  awaitable<void> receive_acks() {
    for (;;) {
      Received received = co_await connection_->receive();
      auto* event = std::get_if<ReceivedEvent>(&received);
      if (!event) session_ended(received);
      if (auto* error = std::get_if<evt::Error>(&event->event)) {
        throw ClientError(Exit::refused,
                          what_was_refused(error->id) + " refused: " +
                              describe_error(*error, connection_->welcome().max_message_bytes));
      }
      const auto* ack = std::get_if<evt::Ack>(&event->event);
      if (!ack || outstanding_.empty() || !(ack->id == outstanding_.front())) continue;
      outstanding_.pop_front();
      if (std::holds_alternative<std::int64_t>(ack->id)) ++acked_;
      if (outstanding_.empty()) all_acked_.cancel();
    }
  }

  std::shared_ptr<Connection> connection_;
  const ScriptOptions& options_;
  LineReader input_;
  Pacer pacer_;
  asio::steady_timer timer_;
  // A condition variable: cancel() wakes send_all() when the last outstanding request is acked.
  // A wake-up with requests still outstanding is `||` cancelling send_all() itself.
  asio::steady_timer all_acked_;
  std::deque<RequestId> outstanding_;
  std::size_t sent_ = 0;
  std::size_t acked_ = 0;
};

awaitable<void> print_until_closed(std::shared_ptr<Connection> connection) {
  std::cout << listen_line(connection->welcome()) << std::flush;
  for (;;) {
    Received received = co_await connection->receive();
    auto* event = std::get_if<ReceivedEvent>(&received);
    if (!event) session_ended(received);
    std::cout << listen_line(event->event) << std::flush;
    if (!std::cout) co_return;  // stdout closed (| head): leave quietly
    if (auto* error = std::get_if<evt::Error>(&event->event);
        error && !std::holds_alternative<std::monostate>(error->id))
      throw ClientError(Exit::refused,
                        what_was_refused(error->id) + " refused: " +
                            describe_error(*error, connection->welcome().max_message_bytes));
  }
}

}  // namespace

awaitable<void> leave(Connection& connection, std::optional<std::string> reason) {
  connection.send({RequestId{}, req::Quit{std::move(reason)}});
  asio::steady_timer timer(connection.get_executor());
  timer.expires_after(kLeaveTimeout);
  for (;;) {
    // `||` flattens Received's alternatives and the timer's result into one variant.
    auto result = co_await (connection.receive() || timer.async_wait(use_tuple));
    if (!std::holds_alternative<ReceivedEvent>(result)) break;  // closed, or we go anyway
  }
  connection.shutdown();
}

awaitable<Exit> run_pipe(std::shared_ptr<Connection> connection, const ScriptOptions& options,
                         int input_fd) {
  PipeRun pipe(connection, options, input_fd);
  auto outcome = co_await (guarded(pipe.run()) || wait_for_signal());
  rethrow_branch_error(outcome);
  if (outcome.index() == 1) {
    std::cerr << "parley: interrupted: " << pipe.sent() << " line(s) sent, " << pipe.acked()
              << " acknowledged\n";
    std::optional<std::string> reason = "interrupted";
    co_await leave(*connection, std::move(reason));
    co_return Exit::interrupted;
  }
  std::optional<std::string> no_reason;
  co_await leave(*connection, std::move(no_reason));
  co_return Exit::ok;
}

awaitable<Exit> run_listen(std::shared_ptr<Connection> connection, const ScriptOptions& options) {
  for (const auto& request : setup_requests(options))
    connection->send(request);
  auto outcome = co_await (guarded(print_until_closed(connection)) || wait_for_signal());
  rethrow_branch_error(outcome);
  std::optional<std::string> no_reason;
  co_await leave(*connection, std::move(no_reason));
  co_return Exit::ok;
}

}  // namespace parley::client
